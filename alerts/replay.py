"""Catch-up from the database (adapter) for readings that were stored but never evaluated.

Evaluation runs on the live stream; this is only for recovery: after a crash (readings committed
and acknowledged while they sat in the evaluation queue) and after the queue overflowed. Readings
not newer than their device's watermark (the newest evaluated) are skipped, so overlapping a
stretch that was evaluated live changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Final

import psycopg

from alerts.events import DeviceStatus, Event, Reading

REPLAY_CHUNK: Final = 5000

_READINGS_SQL: Final = (
    'SELECT t.ts, t.device_id, t.site, d.type, t."values" FROM telemetry t'
    " JOIN devices d ON d.device_id = t.device_id"
    " WHERE t.received_at >= %(since)s AND t.ts >= %(oldest)s ORDER BY t.ts, t.device_id, t.seq"
)
_STATUS_SQL: Final = (
    "SELECT device_id, site, type, state, state_changed_at FROM devices"
    " WHERE state_changed_at >= %(since)s AND state IN ('online', 'offline') ORDER BY state_changed_at"
)


def readings_since(
    conninfo: str, since: datetime, oldest: datetime, watermarks: Mapping[str, datetime]
) -> Iterator[tuple[list[Event], dict[str, datetime]]]:
    """Chunks of (events, advanced watermarks) for telemetry received since ``since``.

    ``oldest`` bounds the readings' own time stamps so the hypertable scan touches recent chunks
    only. Statuses changed since ``since`` come last: the engine ignores a status older than the
    device's last reading, so their place in the order does not matter.
    """
    with psycopg.connect(conninfo, connect_timeout=5) as conn, conn.cursor(name="hazgate_alert_replay") as cur:
        cur.itersize = REPLAY_CHUNK
        cur.execute(_READINGS_SQL, {"since": since, "oldest": oldest})
        while rows := cur.fetchmany(REPLAY_CHUNK):
            marks: dict[str, datetime] = {}
            events: list[Event] = []
            for ts, device_id, site, device_type, values in rows:
                mark = marks.get(device_id) or watermarks.get(device_id)
                if mark is not None and ts <= mark:
                    continue
                marks[device_id] = ts
                events.append(Reading(device_id, site, device_type, ts, values))
            yield events, marks
        statuses: list[Event] = [
            DeviceStatus(device_id, site, state, changed_at, device_type)
            for device_id, site, device_type, state, changed_at in conn.execute(
                _STATUS_SQL, {"since": since}
            ).fetchall()
        ]
        if statuses:
            yield statuses, {}
