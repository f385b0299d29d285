"""The gate's SQL, all of it: events, biometric images, inspection records, what the checks look up.

Functions of a connection the caller owns (the event store's, the pipeline's); no psycopg type
leaves this module except the connection passed in.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import psycopg

from checks import Decision, GpsTracker, OpenAlert, VehicleStatusFacts
from gateway.passage import Lookups, Passage
from gateway.payloads import GateEvent, stored_body
from gateway.validate import KnownDevice
from registry import store as registry_store


# -- events and images --------------------------------------------------------------------------
def store_event(conn: psycopg.Connection, device: KnownDevice, event: GateEvent) -> bool:
    """Record the event once; False when it was already recorded (a QoS-1 redelivery)."""
    cur = conn.execute(
        "INSERT INTO gate_events (event_id, site, gate_id, device_id, type, ts, body)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
        (
            event.event_id,
            device.site,
            device.gate_id,
            device.device_id,
            event.type,
            event.ts,
            json.dumps(stored_body(event), ensure_ascii=False),
        ),
    )
    return cur.rowcount > 0


def keep_image(
    conn: psycopg.Connection, event_id: str, inspection_id: uuid.UUID, kind: str, role: str | None, image: bytes
) -> None:
    conn.execute(
        "INSERT INTO gate_images (event_id, inspection_id, kind, role, image) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING",
        (event_id, inspection_id, kind, role, image),
    )


# -- inspection records ---------------------------------------------------------------------------
def save_inspection(
    conn: psycopg.Connection, passage: Passage, decision: Decision, latency_ms: float, now: datetime
) -> None:
    """Upsert the passage's inspection record with its latest decision."""
    checks = [c.model_dump(mode="json") for c in decision.checks]
    conn.execute(
        "INSERT INTO inspections (id, site, gate_id, plate, opened_at, updated_at, decided_at, result, checks,"
        " missing, inputs, latency_ms, timings)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET plate = EXCLUDED.plate, updated_at = EXCLUDED.updated_at,"
        " decided_at = EXCLUDED.decided_at, result = EXCLUDED.result, checks = EXCLUDED.checks,"
        " missing = EXCLUDED.missing, inputs = EXCLUDED.inputs, latency_ms = EXCLUDED.latency_ms,"
        " timings = EXCLUDED.timings",
        (
            passage.id,
            passage.site,
            passage.gate_id,
            passage.plate.plate if passage.plate else None,
            passage.opened_at,
            now,
            passage.decided_at,
            decision.result.value,
            json.dumps(checks, ensure_ascii=False),
            json.dumps([m.value for m in decision.missing_inputs]),
            json.dumps(passage.inputs_summary(), ensure_ascii=False),
            latency_ms,
            json.dumps(passage.timings),
        ),
    )


def close_inspection(conn: psycopg.Connection, inspection_id: uuid.UUID, reason: str) -> None:
    conn.execute("UPDATE inspections SET closed_at = now(), close_reason = %s WHERE id = %s", (reason, inspection_id))


# -- what the checks look up ----------------------------------------------------------------------
def enrolled_encoding(conn: psycopg.Connection, id_number: str) -> tuple[float, ...] | None:
    person = registry_store.person(conn, id_number)
    return None if person is None else person.face_encoding


def lookups(conn: psycopg.Connection, passage: Passage) -> Lookups:
    """The registry records and the vehicle's monitoring status for a passage's keys."""
    vehicle = carrier = None
    status = None
    if passage.plate is not None:
        found = registry_store.vehicle(conn, passage.plate.plate)
        if found is not None:
            vehicle, carrier = found
        status = vehicle_status(conn, passage.plate.plate)
    people = {}
    flags = {}
    for card in passage.id_cards.values():
        person = registry_store.person(conn, card.id_number)
        if person is not None:
            people[card.id_number] = person.record
            flags[card.id_number] = person.flags
    waybill = registry_store.waybill(conn, passage.waybill_no) if passage.waybill_no else None
    return Lookups(vehicle, carrier, people, waybill, status, flags)


def vehicle_status(conn: psycopg.Connection, plate: str) -> VehicleStatusFacts:
    """The vehicle's trackers and open critical alerts on its devices."""
    devices = conn.execute(
        "SELECT device_id, type, last_seen_at FROM devices WHERE plate = %s AND enabled", (plate,)
    ).fetchall()
    gps = next((GpsTracker(device_id=d[0], last_report_at=d[2]) for d in devices if d[1] == "gps_tracker"), None)
    alerts: tuple[OpenAlert, ...] = ()
    ids = [d[0] for d in devices]
    if ids and conn.execute("SELECT to_regclass('alerts')").fetchone() != (None,):
        rows = conn.execute(
            "SELECT id::text, device_id, metric, value, started_at FROM alerts"
            " WHERE device_id = ANY(%s) AND severity = 'critical' AND state <> 'resolved'",
            (ids,),
        ).fetchall()
        alerts = tuple(
            OpenAlert(alert_id=r[0], device_id=r[1], metric=r[2] or "", value=r[3], started_at=r[4]) for r in rows
        )
    return VehicleStatusFacts(open_critical_alerts=alerts, gps_tracker=gps)
