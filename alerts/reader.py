"""The stored stream, read completely and exactly once (adapter).

Every telemetry row and every ``alert_inputs`` row carries the id of the transaction that stored
it (``txid``, an ``xid8``). :func:`horizon` takes ``x = pg_snapshot_xmin(pg_current_snapshot())``:
every transaction below ``x`` has finished, so the rows with ``cursor <= txid < x`` can no longer
change. :func:`read_chunk` reads them for a set of partitions; the caller evaluates them and moves
the partitions' cursors to the chunk's ``upper`` in the transaction that saves the outcome, so a
crash replays exactly what was not saved. Rows of transactions still running (``txid >= x``) are
read by a later window: a long transaction anywhere in the cluster holds the window back
(``Horizon.complete_at``; docs/alerts.md, "What holds evaluation back").
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import psycopg

from alerts.errors import InputFormatError
from alerts.events import Event, Reading
from alerts.inputs import decode

logger = logging.getLogger(__name__)

# The horizon, the time the stream is complete up to (the start of the oldest transaction still
# holding an id; that one may yet store rows stamped from then on), and the configuration version
# seen in the same snapshot: a rule committed before a reading is in force when it is evaluated.
_HORIZON_SQL: Final = (
    "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text, now(),"
    " (SELECT min(xact_start) FROM pg_stat_activity WHERE backend_xid IS NOT NULL),"
    " (SELECT version FROM alert_config_version)"
    " FROM pg_current_snapshot() AS s"
)
# A reading's partition is its device's (devices.part); a deleted device's readings are not evaluated.
_READINGS_SQL: Final = (
    'SELECT t.ts, t.device_id, t.site, d.type, t."values", t.seq, d.part'
    " FROM telemetry t JOIN devices d ON d.device_id = t.device_id"
    " WHERE t.txid >= %(lo)s::xid8 AND t.txid < %(hi)s::xid8 AND d.part = ANY(%(parts)s)"
)
_INPUTS_SQL: Final = (
    "SELECT i.ts, i.key, i.kind, i.body, i.id, i.part FROM alert_inputs i"
    " WHERE i.txid >= %(lo)s::xid8 AND i.txid < %(hi)s::xid8 AND i.part = ANY(%(parts)s)"
)


@dataclass(frozen=True, slots=True)
class Horizon:
    x: int  # every transaction with a smaller id has finished
    xmax: int  # the next transaction id: x < xmax while transactions are running
    now: datetime  # the database's clock
    complete_at: datetime  # the stream holds everything stored before about this time
    config_version: int

    @property
    def lag_s(self) -> float:
        return max(0.0, (self.now - self.complete_at).total_seconds())


def horizon(conn: psycopg.Connection) -> Horizon:
    row = conn.execute(_HORIZON_SQL).fetchone()
    assert row is not None
    x, xmax, now, oldest, version = row
    complete_at = now if oldest is None else min(now, oldest)
    return Horizon(int(x), int(xmax), now, complete_at, int(version or 0))


@dataclass(slots=True)
class Chunk:
    """The stored inputs of some partitions with ``lower <= txid < upper``, in evaluation order."""

    upper: int
    events: dict[int, list[Event]] = field(default_factory=dict)
    readings: int = 0
    inputs: int = 0
    skipped: int = 0


# Evaluation order inside a window: by time stamp; at the same time, readings before the other
# inputs (as a batch's readings came before its statuses), then by subject and sequence.
_Sortable = tuple[datetime, int, str, int, Event]


def read_chunk(conn: psycopg.Connection, parts: Sequence[int], lower: int, upper: int) -> Chunk:
    """The partitions' inputs stored by transactions in ``[lower, upper)``, in evaluation order.
    The caller bounds the span (alerts/evaluation.py adapts it to the rows it finds)."""
    params: dict[str, Any] = {"lo": str(lower), "hi": str(upper), "parts": list(parts)}
    rows = conn.execute(_READINGS_SQL, params).fetchall()
    per_part: dict[int, list[_Sortable]] = defaultdict(list)
    for ts, device_id, site, device_type, values, seq, part in rows:
        per_part[part].append((ts, 0, device_id, seq, Reading(device_id, site, device_type, ts, values)))
    chunk = Chunk(upper, readings=len(rows))
    for ts, key, kind, body, input_id, part in conn.execute(_INPUTS_SQL, params):
        try:
            event = decode(kind, ts, body)
        except InputFormatError as exc:
            # Skipped the same way on every replay; an evaluator older than the producer says so.
            logger.error("alert input %d skipped: %s", input_id, exc)
            chunk.skipped += 1
            continue
        per_part[part].append((ts, 1, key, input_id, event))
        chunk.inputs += 1
    for part, items in per_part.items():
        items.sort(key=lambda item: item[:4])
        chunk.events[part] = [item[4] for item in items]
    return chunk
