"""The stay's SQL: gates' directions, site settings, lots, bookings, visits and their timeline.

Functions of a connection the caller owns (and the caller's transaction); rows leave as the
models of stays/models.py or checks/stay_facts.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from checks.stay_facts import BookingSeen, BookingState
from stays.models import Booking, Cargo, Lot, Position, QueueEntry, TimelineEntry, Visit, VisitState

VISIT_COLUMNS = (
    "id, site, plate, state, booking_id, lot_id, queued_at, called_at, called_gate, entry_inspection_id,"
    " exit_inspection_id, entered_at, exited_at, closed_at, close_reason, closed_by, waybill_no,"
    " waybill_closed_at, tracker_device_id"
)
BOOKING_COLUMNS = (
    "b.id, b.site, b.plate, b.waybill_no, b.driver_id, b.escort_id, b.slot_start, b.slot_end, b.enterprise,"
    " b.state, b.precheck, b.reason, b.created_by, b.created_at, b.updated_at,"
    " (SELECT v.id FROM visits v WHERE v.booking_id = b.id ORDER BY v.created_at DESC LIMIT 1) AS visit_id"
)


def _rows(conn: psycopg.Connection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    return conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()


def _row(conn: psycopg.Connection, sql: str, params: Any = None) -> dict[str, Any] | None:
    return conn.cursor(row_factory=dict_row).execute(sql, params).fetchone()


# -- gates, sites, lots ---------------------------------------------------------------------------
def set_gate(conn: psycopg.Connection, site: str, gate_id: str, direction: str) -> None:
    conn.execute(
        "INSERT INTO gates (site, gate_id, direction) VALUES (%s, %s, %s)"
        " ON CONFLICT (site, gate_id) DO UPDATE SET direction = EXCLUDED.direction, updated_at = now()",
        (site, gate_id, direction),
    )


def gates(conn: psycopg.Connection, site: str | None = None) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT site, gate_id, direction, updated_at FROM gates WHERE %(site)s::text IS NULL OR site = %(site)s"
        " ORDER BY site, gate_id",
        {"site": site},
    )


def gate_direction(conn: psycopg.Connection, site: str, gate_id: str) -> str | None:
    """The gate's direction; None when it was never set (an entry gate)."""
    row = conn.execute("SELECT direction FROM gates WHERE site = %s AND gate_id = %s", (site, gate_id)).fetchone()
    return None if row is None else str(row[0])


def set_site(conn: psycopg.Connection, site: str, bookings_required: bool) -> None:
    conn.execute(
        "INSERT INTO site_settings (site, bookings_required) VALUES (%s, %s)"
        " ON CONFLICT (site) DO UPDATE SET bookings_required = EXCLUDED.bookings_required, updated_at = now()",
        (site, bookings_required),
    )


def bookings_required(conn: psycopg.Connection, site: str) -> bool:
    row = conn.execute("SELECT bookings_required FROM site_settings WHERE site = %s", (site,)).fetchone()
    return bool(row[0]) if row else False


def set_lot(conn: psycopg.Connection, site: str, lot_id: str, capacity: int) -> None:
    conn.execute(
        "INSERT INTO waiting_lots (site, lot_id, capacity) VALUES (%s, %s, %s)"
        " ON CONFLICT (site, lot_id) DO UPDATE SET capacity = EXCLUDED.capacity, updated_at = now()",
        (site, lot_id, capacity),
    )


def lot(conn: psycopg.Connection, site: str, lot_id: str) -> Lot | None:
    row = _row(
        conn,
        "SELECT l.site, l.lot_id, l.capacity, (SELECT count(*) FROM visits v WHERE v.site = l.site"
        " AND v.lot_id = l.lot_id AND v.state = 'queued') AS queued FROM waiting_lots l"
        " WHERE l.site = %s AND l.lot_id = %s",
        (site, lot_id),
    )
    return None if row is None else Lot.model_validate(row)


def lots(conn: psycopg.Connection, site: str | None = None) -> list[Lot]:
    rows = _rows(
        conn,
        "SELECT l.site, l.lot_id, l.capacity, (SELECT count(*) FROM visits v WHERE v.site = l.site"
        " AND v.lot_id = l.lot_id AND v.state = 'queued') AS queued FROM waiting_lots l"
        " WHERE %(site)s::text IS NULL OR l.site = %(site)s ORDER BY l.site, l.lot_id",
        {"site": site},
    )
    return [Lot.model_validate(r) for r in rows]


def lock_lot(conn: psycopg.Connection, site: str, lot_id: str) -> None:
    """Serialise arrivals at one lot, so two at once cannot both take its last place."""
    conn.execute("SELECT 1 FROM waiting_lots WHERE site = %s AND lot_id = %s FOR UPDATE", (site, lot_id))


# -- bookings -------------------------------------------------------------------------------------
def insert_booking(conn: psycopg.Connection, booking: Booking) -> None:
    conn.execute(
        "INSERT INTO bookings (id, site, plate, waybill_no, driver_id, escort_id, slot_start, slot_end, enterprise,"
        " state, precheck, reason, created_by, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            booking.id,
            booking.site,
            booking.plate,
            booking.waybill_no,
            booking.driver_id,
            booking.escort_id,
            booking.slot_start,
            booking.slot_end,
            booking.enterprise,
            booking.state.value,
            json.dumps(booking.precheck, ensure_ascii=False),
            booking.reason,
            booking.created_by,
            booking.created_at,
            booking.updated_at,
        ),
    )


def booking(conn: psycopg.Connection, booking_id: uuid.UUID, *, lock: bool = False) -> Booking | None:
    sql = f"SELECT {BOOKING_COLUMNS} FROM bookings b WHERE b.id = %s"  # noqa: S608 - fixed column list
    row = _row(conn, sql + (" FOR UPDATE OF b" if lock else ""), (booking_id,))
    return None if row is None else Booking.model_validate(row)


def list_bookings(
    conn: psycopg.Connection, site: str | None, state: str | None, plate: str | None, limit: int
) -> list[Booking]:
    rows = _rows(
        conn,
        f"SELECT {BOOKING_COLUMNS} FROM bookings b"  # noqa: S608 - fixed column list
        " WHERE (%(site)s::text IS NULL OR b.site = %(site)s) AND (%(state)s::text IS NULL OR b.state = %(state)s)"
        " AND (%(plate)s::text IS NULL OR b.plate = %(plate)s) ORDER BY b.slot_start DESC, b.created_at DESC"
        " LIMIT %(limit)s",
        {"site": site, "state": state, "plate": plate, "limit": limit},
    )
    return [Booking.model_validate(r) for r in rows]


def set_booking_state(
    conn: psycopg.Connection, booking_id: uuid.UUID, state: BookingState, reason: str | None = None
) -> None:
    conn.execute(
        "UPDATE bookings SET state = %s, reason = COALESCE(%s, reason), updated_at = now() WHERE id = %s",
        (state.value, reason, booking_id),
    )


def audit_booking(
    conn: psycopg.Connection, booking_id: uuid.UUID, actor: str, action: str, detail: dict[str, Any]
) -> None:
    conn.execute(
        "INSERT INTO booking_audit (booking_id, actor, action, detail) VALUES (%s, %s, %s, %s)",
        (booking_id, actor, action, json.dumps(detail, ensure_ascii=False, default=str)),
    )


def expire_bookings(conn: psycopg.Connection, now: datetime) -> list[uuid.UUID]:
    """Requested and approved bookings whose slot ended unused become ``expired``."""
    rows = conn.execute(
        "UPDATE bookings SET state = 'expired', updated_at = now()"
        " WHERE state IN ('requested', 'approved') AND slot_end < %s RETURNING id",
        (now,),
    ).fetchall()
    for (booking_id,) in rows:
        audit_booking(conn, booking_id, "hazgate", "expire", {"at": now.isoformat()})
    return [r[0] for r in rows]


def plate_bookings(conn: psycopg.Connection, site: str, plate: str, around: datetime) -> list[BookingSeen]:
    """The plate's bookings at the site whose slot is within a day of ``around``."""
    rows = conn.execute(
        "SELECT id::text, state, slot_start, slot_end FROM bookings WHERE site = %s AND plate = %s"
        " AND slot_end > %s - interval '1 day' AND slot_start < %s + interval '1 day' ORDER BY slot_start",
        (site, plate, around, around),
    ).fetchall()
    return [BookingSeen(id=r[0], state=BookingState(r[1]), slot_start=r[2], slot_end=r[3]) for r in rows]


# -- visits ---------------------------------------------------------------------------------------
def insert_visit(
    conn: psycopg.Connection,
    *,
    visit_id: uuid.UUID,
    site: str,
    plate: str,
    state: VisitState,
    booking_id: uuid.UUID | None,
    waybill_no: str | None,
    lot_id: str | None = None,
    queued_at: datetime | None = None,
) -> None:
    conn.execute(
        "INSERT INTO visits (id, site, plate, state, booking_id, waybill_no, lot_id, queued_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (visit_id, site, plate, state.value, booking_id, waybill_no, lot_id, queued_at),
    )


def open_visit(conn: psycopg.Connection, site: str, plate: str, *, lock: bool = False) -> Visit | None:
    """The plate's stay that is not closed yet (queued or inside), if any."""
    sql = f"SELECT {VISIT_COLUMNS} FROM visits WHERE site = %s AND plate = %s AND state <> 'closed'"  # noqa: S608
    row = _row(conn, sql + (" FOR UPDATE" if lock else ""), (site, plate))
    return None if row is None else Visit.model_validate(row)


def visit(conn: psycopg.Connection, visit_id: uuid.UUID, *, lock: bool = False) -> Visit | None:
    sql = f"SELECT {VISIT_COLUMNS} FROM visits WHERE id = %s"  # noqa: S608 - fixed column list
    row = _row(conn, sql + (" FOR UPDATE" if lock else ""), (visit_id,))
    return None if row is None else Visit.model_validate(row)


def list_visits(
    conn: psycopg.Connection, site: str | None, state: str | None, plate: str | None, limit: int
) -> list[Visit]:
    rows = _rows(
        conn,
        f"SELECT {VISIT_COLUMNS} FROM visits"  # noqa: S608 - fixed column list
        " WHERE (%(site)s::text IS NULL OR site = %(site)s) AND (%(state)s::text IS NULL OR state = %(state)s)"
        " AND (%(plate)s::text IS NULL OR plate = %(plate)s) ORDER BY created_at DESC LIMIT %(limit)s",
        {"site": site, "state": state, "plate": plate, "limit": limit},
    )
    return [Visit.model_validate(r) for r in rows]


def visit_entered(
    conn: psycopg.Connection, visit_id: uuid.UUID, inspection_id: uuid.UUID, at: datetime, waybill_no: str | None
) -> None:
    conn.execute(
        "UPDATE visits SET state = 'inside', entry_inspection_id = %s, entered_at = %s,"
        " waybill_no = COALESCE(%s, waybill_no), updated_at = now() WHERE id = %s",
        (inspection_id, at, waybill_no, visit_id),
    )


def visit_called(conn: psycopg.Connection, visit_id: uuid.UUID, at: datetime, gate_id: str | None) -> None:
    conn.execute(
        "UPDATE visits SET called_at = %s, called_gate = %s, updated_at = now() WHERE id = %s",
        (at, gate_id, visit_id),
    )


def visit_closed(
    conn: psycopg.Connection,
    visit_id: uuid.UUID,
    at: datetime,
    reason: str,
    by: str | None,
    exit_inspection_id: uuid.UUID | None = None,
) -> None:
    conn.execute(
        "UPDATE visits SET state = 'closed', closed_at = %s, close_reason = %s, closed_by = %s,"
        " exit_inspection_id = COALESCE(%s, exit_inspection_id),"
        " exited_at = CASE WHEN %s::uuid IS NULL THEN exited_at ELSE %s END, updated_at = now() WHERE id = %s",
        (at, reason, by, exit_inspection_id, exit_inspection_id, at, visit_id),
    )


def visit_waybill_closed(conn: psycopg.Connection, visit_id: uuid.UUID, at: datetime) -> None:
    conn.execute(
        "UPDATE visits SET waybill_closed_at = COALESCE(waybill_closed_at, %s), updated_at = now() WHERE id = %s",
        (at, visit_id),
    )


def visit_tracker(conn: psycopg.Connection, visit_id: uuid.UUID, device_id: str) -> None:
    conn.execute("UPDATE visits SET tracker_device_id = %s, updated_at = now() WHERE id = %s", (device_id, visit_id))


def add_timeline(
    conn: psycopg.Connection, visit_id: uuid.UUID, ts: datetime, kind: str, detail: dict[str, Any] | None = None
) -> None:
    conn.execute(
        "INSERT INTO visit_timeline (visit_id, ts, kind, detail) VALUES (%s, %s, %s, %s)",
        (visit_id, ts, kind, json.dumps(detail or {}, ensure_ascii=False, default=str)),
    )


def timeline(conn: psycopg.Connection, visit_id: uuid.UUID) -> list[TimelineEntry]:
    rows = _rows(conn, "SELECT ts, kind, detail FROM visit_timeline WHERE visit_id = %s ORDER BY ts, id", (visit_id,))
    return [TimelineEntry.model_validate(r) for r in rows]


def queue(conn: psycopg.Connection, site: str | None, lot_id: str | None) -> list[dict[str, Any]]:
    """Queued stays of a site (or one lot; or every site), first come first."""
    return _rows(
        conn,
        "SELECT v.id AS visit_id, v.site, v.plate, v.lot_id, v.queued_at, v.booking_id, b.slot_start, b.slot_end,"
        " v.called_at, v.called_gate FROM visits v LEFT JOIN bookings b ON b.id = v.booking_id"
        " WHERE (%(site)s::text IS NULL OR v.site = %(site)s) AND v.state = 'queued'"
        " AND (%(lot)s::text IS NULL OR v.lot_id = %(lot)s) ORDER BY v.queued_at, v.created_at",
        {"site": site, "lot": lot_id},
    )


def queue_entries(rows: list[dict[str, Any]], now: datetime, grace_s: float) -> list[QueueEntry]:
    out = []
    counts: dict[tuple[str, str | None], int] = {}
    for row in rows:
        key = (row["site"], row["lot_id"])
        counts[key] = counts.get(key, 0) + 1  # the place in its own lot's line
        start = row["slot_start"]
        eligible = start is None or start.timestamp() - grace_s <= now.timestamp()
        out.append(QueueEntry(position=counts[key], eligible=eligible, **row))
    return out


# -- what a visit shows: cargo, position, alerts ----------------------------------------------------
def cargo(conn: psycopg.Connection, waybill_no: str | None) -> Cargo | None:
    if waybill_no is None:
        return None
    row = conn.execute("SELECT record->'cargo' FROM waybills WHERE waybill_no = %s", (waybill_no,)).fetchone()
    if row is None or row[0] is None:
        return None
    return Cargo.model_validate(row[0])


def tracker_of(conn: psycopg.Connection, visit: Visit) -> str | None:
    """The visit's tracker: one handed out at the gate, else the vehicle's own GPS tracker."""
    if visit.tracker_device_id is not None:
        return visit.tracker_device_id
    row = conn.execute(
        "SELECT device_id FROM devices WHERE plate = %s AND site = %s AND type = 'gps_tracker' AND enabled"
        " ORDER BY last_seen_at DESC NULLS LAST LIMIT 1",
        (visit.plate, visit.site),
    ).fetchone()
    return None if row is None else str(row[0])


def latest_position(conn: psycopg.Connection, device_id: str) -> Position | None:
    row = conn.execute(
        'SELECT ts, "values" FROM telemetry WHERE device_id = %s AND "values" ? \'lat\' AND "values" ? \'lon\''
        " ORDER BY ts DESC LIMIT 1",
        (device_id,),
    ).fetchone()
    if row is None:
        return None
    return Position(lat=row[1]["lat"], lon=row[1]["lon"], ts=row[0], device_id=device_id)


def device(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    return _row(conn, "SELECT device_id, site, type, plate, enabled FROM devices WHERE device_id = %s", (device_id,))


def alerts_during(conn: psycopg.Connection, visit: Visit, until: datetime) -> list[TimelineEntry]:
    """Alerts about the stay's vehicle (its plate, or one of its devices) while it was in the park."""
    since = visit.entered_at or visit.queued_at
    if since is None or conn.execute("SELECT to_regclass('alerts')").fetchone() == (None,):
        return []
    devices = [r[0] for r in conn.execute("SELECT device_id FROM devices WHERE plate = %s", (visit.plate,))]
    if visit.tracker_device_id:
        devices.append(visit.tracker_device_id)
    rows = conn.execute(
        "SELECT id::text, rule_id, state, severity, started_at, resolved_at, doc FROM alerts"
        " WHERE (doc->>'subject' = %s OR doc->>'plate' = %s OR device_id = ANY(%s))"
        " AND started_at >= %s AND started_at <= %s ORDER BY started_at",
        (visit.plate, visit.plate, devices, since, until),
    ).fetchall()
    out = []
    for alert_id, rule_id, state, severity, started_at, resolved_at, doc in rows:
        detail = {
            "alert_id": alert_id,
            "rule_id": rule_id,
            "rule": doc.get("rule"),
            "severity": severity,
            "state": state,
            "summary": doc.get("summary"),
        }
        out.append(TimelineEntry(ts=started_at, kind="alert", detail=detail))
        if resolved_at is not None and resolved_at <= until:
            out.append(TimelineEntry(ts=resolved_at, kind="alert_resolved", detail=detail))
    return out
