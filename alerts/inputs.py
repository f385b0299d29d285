"""The engine's inputs that are not readings, as rows of ``alert_inputs`` (adapter).

A producer records its input **in its own transaction** (``record(conn, event)``), so a gate
decision and the alert input it implies commit together or not at all, and the evaluator that
owns the subject's partition reads it from the stored stream exactly once (alerts/reader.py).
``key`` is the subject the engine keys the input by: the device id, or the plate (normalised).

Every writer of the stream also calls :func:`notify_stored` in its transaction: NOTIFY is
delivered only on commit, and wakes the evaluators at once instead of at their next poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb
from pydantic import TypeAdapter, ValidationError

from alerts.errors import InputFormatError
from alerts.events import DeviceStatus, InspectionFailed, VehicleEntered, VehicleLeft, normalize_plate

# LISTEN channel of evaluators: something was stored (telemetry or alert_inputs).
STORED_CHANNEL: Final = "hazgate_stored"

InputEvent = DeviceStatus | InspectionFailed | VehicleEntered | VehicleLeft

# One kind per event type; the kind names are stored, so they never change.
_KINDS: Final[dict[type[Any], str]] = {
    DeviceStatus: "device_status",
    InspectionFailed: "inspection_failed",
    VehicleEntered: "vehicle_entered",
    VehicleLeft: "vehicle_left",
}
_ADAPTERS: Final[dict[str, TypeAdapter[Any]]] = {kind: TypeAdapter(cls) for cls, kind in _KINDS.items()}
_INSERT: Final = "INSERT INTO alert_inputs (kind, key, ts, body) VALUES (%s, %s, %s, %s)"


def kind_of(event: InputEvent) -> str:
    return _KINDS[type(event)]


def key_of(event: InputEvent) -> str:
    """The subject: the device for a status, the plate (as the engine normalises it) otherwise."""
    if isinstance(event, DeviceStatus):
        return event.device_id
    return normalize_plate(event.plate)


def body_of(event: InputEvent) -> dict[str, Any]:
    """The event's fields but its time stamp (a column of its own), JSON-ready."""
    adapter = _ADAPTERS[kind_of(event)]
    body: dict[str, Any] = adapter.dump_python(event, mode="json")
    body.pop("ts", None)
    return body


def decode(kind: str, ts: datetime, body: Mapping[str, Any]) -> InputEvent:
    """The typed event of a stored row; InputFormatError names what is wrong."""
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        raise InputFormatError(f"alert input kind {kind!r} is unknown to this version; known: {sorted(_ADAPTERS)}")
    try:
        event: InputEvent = adapter.validate_python({**body, "ts": ts})
    except (ValidationError, ValueError) as exc:
        raise InputFormatError(f"alert input {kind!r} cannot be read: {exc}") from exc
    return event


def record(conn: psycopg.Connection, *events: InputEvent) -> None:
    """Store engine inputs in the caller's transaction (and wake the evaluators when it commits)."""
    if not events:
        return
    rows = [(kind_of(e), key_of(e), e.ts, Jsonb(body_of(e))) for e in events]
    with conn.cursor() as cur:
        cur.executemany(_INSERT, rows)
    notify_stored(conn)


def notify_stored(conn: psycopg.Connection) -> None:
    """Wake the evaluators when the current transaction commits (one notice per transaction)."""
    conn.execute("SELECT pg_notify(%s, '')", (STORED_CHANNEL,))
