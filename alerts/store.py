"""PostgreSQL persistence of alerting (adapter): alert rows and the partitions' evaluation state.

Synchronous psycopg for the evaluator's thread. The SQL that writes an alert row and announces a
change (:data:`UPSERT_ALERT`, :func:`alert_params`, :func:`stream_payload`) is shared with the
API, which runs it on its async connections. Tables: migrations 0006_alerts.sql, 0014_alert_stream.sql.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb

from alerts.errors import AlertsError, StateFormatError
from alerts.lifecycle import Alert
from alerts.payload import alert_body
from alerts.state import EngineState

logger = logging.getLogger(__name__)

# LISTEN channels. hazgate_alerts: "config" (rules, subscriptions, silences changed; sent by the
# migration's triggers) or "alert" (an officer acknowledged or resolved one): evaluators run
# their tick at once. hazgate_stream: JSON events for the API's live stream (api/stream.py).
ALERTS_CHANNEL: Final = "hazgate_alerts"
STREAM_CHANNEL: Final = "hazgate_stream"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; a larger alert is announced by id.
MAX_NOTIFY_BYTES: Final = 7900


class PartitionLost(AlertsError):
    """A partition's saved version is not the one this process loaded: another process owns it now."""


Watermarks = dict[str, datetime]  # device -> time stamp of its newest reading evaluated


@dataclass(frozen=True, slots=True)
class SavedPartition:
    part: int
    cursor: int  # xid8: every input of the partition stored below it is evaluated into ``state``
    state: EngineState
    version: int
    evaluated_until: datetime
    watermarks: Watermarks


@dataclass(frozen=True, slots=True)
class PartitionSave:
    """What to save for one partition: its new cursor and state, over ``version``."""

    part: int
    version: int
    cursor: int
    state: EngineState
    evaluated_until: datetime
    watermarks: Mapping[str, datetime]
    state_changed: bool = True  # False: only the cursor moved, the stored state and watermarks stay


# --- evaluation state, per partition ---------------------------------------------------------------


def partition_count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT alert_partition_count()").fetchone()
    assert row is not None
    return int(row[0])


def load_partitions(conn: psycopg.Connection, parts: Iterable[int]) -> list[SavedPartition]:
    rows = conn.execute(
        "SELECT part, cursor::text, state::text, version, evaluated_until, watermarks FROM alert_partitions"
        " WHERE part = ANY(%s) ORDER BY part",
        (sorted(set(parts)),),
    ).fetchall()
    return [SavedPartition(p, int(c), EngineState.from_json(s), int(v), at, _marks(m)) for p, c, s, v, at, m in rows]


def _marks(stored: Mapping[str, str]) -> Watermarks:
    try:
        return {device: datetime.fromisoformat(ts) for device, ts in stored.items()}
    except (TypeError, ValueError) as exc:
        raise StateFormatError(f"saved watermarks cannot be read: {exc}") from exc


def lock_partitions(conn: psycopg.Connection, expected: Mapping[int, int]) -> None:
    """Inside a transaction: lock the partitions' rows; PartitionLost unless each is at ``expected`` version."""
    rows = conn.execute(
        "SELECT part, version FROM alert_partitions WHERE part = ANY(%s) ORDER BY part FOR UPDATE",
        (sorted(expected),),
    ).fetchall()
    found = {int(p): int(v) for p, v in rows}
    lost = sorted(p for p, v in expected.items() if found.get(p) != v)
    if lost:
        raise PartitionLost(f"partitions {lost} were saved by another process meanwhile")


def save_partitions(conn: psycopg.Connection, saves: Iterable[PartitionSave]) -> None:
    """Inside the transaction that locked them: each partition's cursor and state, version + 1."""
    rows = [
        (
            str(s.cursor),
            s.state.to_json() if s.state_changed else None,
            Jsonb({d: ts.isoformat() for d, ts in s.watermarks.items()}) if s.state_changed else None,
            s.evaluated_until,
            s.part,
        )
        for s in saves
    ]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE alert_partitions SET cursor = %s::xid8, state = coalesce(%s::jsonb, state),"
                " watermarks = coalesce(%s::jsonb, watermarks), evaluated_until = %s, version = version + 1,"
                " saved_at = now() WHERE part = %s",
                rows,
            )


# --- alerts ------------------------------------------------------------------------------------------

UPSERT_ALERT: Final = (
    "INSERT INTO alerts (id, fingerprint, rule_id, state, severity, site, device_id, metric, value, count,"
    " started_at, updated_at, acknowledged_by, acknowledged_at, resolved_by, resolved_at, settled, doc)"
    " VALUES (%(id)s, %(fingerprint)s, %(rule_id)s, %(state)s, %(severity)s,"
    " %(site)s, %(device_id)s, %(metric)s, %(value)s, %(count)s, %(started_at)s, %(updated_at)s,"
    " %(acknowledged_by)s, %(acknowledged_at)s, %(resolved_by)s, %(resolved_at)s, %(settled)s, %(doc)s)"
    " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, severity = EXCLUDED.severity, value = EXCLUDED.value,"
    " metric = EXCLUDED.metric, count = EXCLUDED.count, updated_at = EXCLUDED.updated_at,"
    " acknowledged_by = EXCLUDED.acknowledged_by, acknowledged_at = EXCLUDED.acknowledged_at,"
    " resolved_by = EXCLUDED.resolved_by, resolved_at = EXCLUDED.resolved_at, settled = EXCLUDED.settled,"
    " doc = EXCLUDED.doc"
)


def alert_params(alert: Alert, *, settled: bool = False) -> dict[str, Any]:
    """Parameters of :data:`UPSERT_ALERT`: the model whole in ``doc``, the columns beside it."""
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "rule_id": alert.rule_id,
        "state": alert.state,
        "severity": alert.severity.value,
        "site": alert.site,
        "device_id": alert.device_id,
        "metric": alert.metric,
        "value": alert.value,
        "count": alert.count,
        "started_at": alert.started_at,
        "updated_at": alert.updated_at,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at,
        "resolved_by": alert.resolved_by,
        "resolved_at": alert.resolved_at,
        "settled": settled,
        "doc": Jsonb(alert.model_dump(mode="json")),
    }


def alert_from_doc(doc: Mapping[str, Any]) -> Alert:
    return Alert.model_validate(doc)


def lock_open_alerts(conn: psycopg.Connection, fingerprints: Iterable[str]) -> dict[str, Alert]:
    """The open alert of each fingerprint, locked until the transaction ends (officers wait)."""
    rows = conn.execute(
        "SELECT doc FROM alerts WHERE fingerprint = ANY(%s) AND state <> 'resolved' FOR UPDATE",
        (sorted(set(fingerprints)),),
    ).fetchall()
    found = [alert_from_doc(r[0]) for r in rows]
    return {a.fingerprint: a for a in found}


def lock_unsettled(conn: psycopg.Connection, parts: Iterable[int]) -> list[Alert]:
    """Alerts of these partitions something may still become due for: open ones, and resolved
    ones not yet announced."""
    rows = conn.execute(
        "SELECT doc FROM alerts WHERE NOT settled AND part = ANY(%s) ORDER BY started_at FOR UPDATE",
        (sorted(set(parts)),),
    ).fetchall()
    return [alert_from_doc(r[0]) for r in rows]


def open_fingerprints(conn: psycopg.Connection, fingerprints: Iterable[str]) -> set[str]:
    rows = conn.execute(
        "SELECT fingerprint FROM alerts WHERE fingerprint = ANY(%s) AND state <> 'resolved'",
        (sorted(set(fingerprints)),),
    ).fetchall()
    return {r[0] for r in rows}


def write_alerts(conn: psycopg.Connection, alerts: Iterable[Alert]) -> None:
    """Upsert in an order the one-open-per-fingerprint index accepts: resolved ones first."""
    ordered = sorted(alerts, key=lambda a: a.is_open)
    if ordered:
        with conn.cursor() as cur:
            cur.executemany(UPSERT_ALERT, [alert_params(a) for a in ordered])


def mark_settled(conn: psycopg.Connection, alert_ids: Iterable[str]) -> None:
    ids = sorted(set(alert_ids))
    if ids:
        conn.execute("UPDATE alerts SET settled = true WHERE id = ANY(%s::uuid[])", (ids,))


def stream_payload(alert: Alert, event: str = "alert") -> str:
    """A hazgate_stream NOTIFY payload: the alert body for the live stream, or its id if too large."""
    data = alert_body(alert)
    text = json.dumps({"topic": "alerts", "event": event, "data": data}, separators=(",", ":"), default=str)
    if len(text.encode()) <= MAX_NOTIFY_BYTES:
        return text
    small = {
        k: data[k]
        for k in ("alert_id", "rule_id", "rule", "state", "severity", "site", "device_id", "plate", "zone_id")
    }
    return json.dumps({"topic": "alerts", "event": event, "data": {**small, "truncated": True}})


def notify_stream(conn: psycopg.Connection, alerts: Iterable[Alert]) -> None:
    """Announce changed alerts to live streams; NOTIFY is delivered only if the transaction commits."""
    payloads = [(STREAM_CHANNEL, stream_payload(a)) for a in alerts]
    if payloads:
        with conn.cursor() as cur:
            cur.executemany("SELECT pg_notify(%s, %s)", payloads)
