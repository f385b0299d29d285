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
from checks.stay_facts import BookingFacts, ExitFacts, StayAtExit
from gateway.passage import Direction, Lookups, Passage
from gateway.payloads import GateEvent, stored_body
from gateway.validate import KnownDevice
from registry import store as registry_store
from stays import store as stays_store
from stays.models import VisitState

LOT = "lot"  # what gate_kind says of a waiting lot's camera


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
        " missing, inputs, latency_ms, timings, direction)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET plate = EXCLUDED.plate, updated_at = EXCLUDED.updated_at,"
        " decided_at = EXCLUDED.decided_at, result = EXCLUDED.result, checks = EXCLUDED.checks,"
        " missing = EXCLUDED.missing, inputs = EXCLUDED.inputs, latency_ms = EXCLUDED.latency_ms,"
        " timings = EXCLUDED.timings, direction = EXCLUDED.direction",
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
            (passage.direction or Direction.ENTRY).value,
        ),
    )


def reject(conn: psycopg.Connection, device: KnownDevice, topic: str, reason: str, detail: str) -> None:
    """Record an input refused for a reason of the stay (a full lot, a tanker without a booking)."""
    conn.execute(
        "INSERT INTO rejected (source, topic, device_id, reason, detail) VALUES ('mqtt', %s, %s, %s, %s)",
        (topic, device.device_id, reason, detail),
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


# -- the stay: which way a gate lets tankers through, bookings, the stay at the exit ---------------
def gate_kind(conn: psycopg.Connection, site: str, gate_id: str) -> Direction | str:
    """A gate's direction (entry when never set), or ``LOT`` for a waiting lot's camera."""
    row = conn.execute(
        "SELECT (SELECT direction FROM gates WHERE site = %s AND gate_id = %s),"
        " EXISTS (SELECT 1 FROM waiting_lots WHERE site = %s AND lot_id = %s)",
        (site, gate_id, site, gate_id),
    ).fetchone()
    assert row is not None
    if row[1]:
        return LOT
    return Direction(row[0]) if row[0] else Direction.ENTRY


def is_inside(conn: psycopg.Connection, site: str, plate: str) -> bool:
    visit = stays_store.open_visit(conn, site, plate)
    return visit is not None and visit.state is VisitState.INSIDE


def booking_facts(conn: psycopg.Connection, site: str, plate: str | None, now: datetime) -> BookingFacts:
    if plate is None:
        return BookingFacts()
    return BookingFacts(
        plate=plate,
        required=stays_store.bookings_required(conn, site),
        bookings=tuple(stays_store.plate_bookings(conn, site, plate, now)),
    )


def exit_facts(conn: psycopg.Connection, passage: Passage) -> ExitFacts:
    """A tanker at an exit gate: its record, its stay inside, the stay's waybill, the weighbridge."""
    plate = passage.plate
    if plate is None:
        return ExitFacts(gross_kg=passage.gross_kg)
    found = registry_store.vehicle(conn, plate.plate)
    visit = stays_store.open_visit(conn, passage.site, plate.plate)
    stay = None
    waybill = None
    if visit is not None and visit.state is VisitState.INSIDE:
        stay = StayAtExit(
            visit_id=str(visit.id),
            entered_at=visit.entered_at,
            waybill_no=visit.waybill_no,
            waybill_closed_at=visit.waybill_closed_at,
        )
        waybill = registry_store.waybill(conn, visit.waybill_no) if visit.waybill_no else None
    return ExitFacts(
        plate=plate,
        vehicle=None if found is None else found[0],
        visit=stay,
        waybill=waybill,
        gross_kg=passage.gross_kg,
    )
