"""A stay's life after the waiting lot: through the entry gate, inside, out through the exit.

Each function runs in the caller's transaction and takes the time it is told (``at``); the gate
pipeline calls them after storing a decision, the API after an officer acts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import psycopg

from checks import CheckPolicy
from checks.booking import admitting
from checks.stay_facts import BookingFacts, BookingState
from park.store import zone_at
from stays import departures, store
from stays.errors import Conflict, Invalid, NotFound
from stays.models import Visit, VisitState

ENTRY_PASSED_STATES = {BookingState.APPROVED, BookingState.ARRIVED}


def _mark_booking_used(conn: psycopg.Connection, booking_id: uuid.UUID | None, at: datetime) -> None:
    if booking_id is None:
        return
    found = store.booking(conn, booking_id, lock=True)
    if found is not None and found.state in ENTRY_PASSED_STATES:
        store.set_booking_state(conn, booking_id, BookingState.USED)
        store.audit_booking(conn, booking_id, "hazgate", "used", {"at": at.isoformat()})


def entry_decided(
    conn: psycopg.Connection,
    *,
    site: str,
    gate_id: str,
    plate: str,
    inspection_id: uuid.UUID,
    result: str,
    at: datetime,
    waybill_no: str | None,
    booking_id: uuid.UUID | None,
    reasons: Sequence[str] = (),
    by: str | None = None,
) -> uuid.UUID | None:
    """An entry decision (a change of its result): on the timeline, and on ``pass`` the stay is
    inside (a tanker that came straight to the gate gets its stay now). Returns the stay's id."""
    with conn.transaction():
        visit = store.open_visit(conn, site, plate, lock=True)
        if visit is not None and visit.state is VisitState.INSIDE:
            return visit.id  # already inside: a decision repeated, or an override of one that let it in
        detail: dict[str, object] = {
            "inspection_id": str(inspection_id),
            "gate_id": gate_id,
            "result": result,
            "reasons": list(reasons),
        }
        if by is not None:
            detail["override_by"] = by
        if result != "pass":
            if visit is not None:
                store.add_timeline(conn, visit.id, at, "entry_inspection", detail)
            return None if visit is None else visit.id
        if visit is None:
            visit_id = uuid.uuid4()
            store.insert_visit(
                conn,
                visit_id=visit_id,
                site=site,
                plate=plate,
                state=VisitState.QUEUED,
                booking_id=booking_id,
                waybill_no=waybill_no,
            )
            if booking_id is not None:
                add_booking_history(conn, visit_id, booking_id)
        else:
            visit_id = visit.id
            booking_id = visit.booking_id or booking_id
        store.add_timeline(conn, visit_id, at, "entry_inspection", detail)
        store.visit_entered(conn, visit_id, inspection_id, at, waybill_no)
        store.add_timeline(conn, visit_id, at, "entered", {"gate_id": gate_id, "inspection_id": str(inspection_id)})
        _mark_booking_used(conn, booking_id, at)
        return visit_id


def inspection_overridden(
    conn: psycopg.Connection,
    *,
    site: str,
    gate_id: str,
    plate: str | None,
    direction: str,
    inspection_id: uuid.UUID,
    result: str,
    waybill_no: str | None,
    by: str,
    at: datetime,
    policy: CheckPolicy,
) -> uuid.UUID | None:
    """An officer decided instead of the gate: the stay follows as it would the gate's decision."""
    if plate is None:
        return None
    if direction == "exit":
        return exit_decided(
            conn,
            site=site,
            gate_id=gate_id,
            plate=plate,
            inspection_id=inspection_id,
            result=result,
            at=at,
            by=by,
        )
    found = BookingFacts(plate=plate, bookings=tuple(store.plate_bookings(conn, site, plate, at)))
    booking = admitting(found, at, policy)
    return entry_decided(
        conn,
        site=site,
        gate_id=gate_id,
        plate=plate,
        inspection_id=inspection_id,
        result=result,
        at=at,
        waybill_no=waybill_no,
        booking_id=None if booking is None else uuid.UUID(booking.id),
        by=by,
    )


def add_booking_history(conn: psycopg.Connection, visit_id: uuid.UUID, booking_id: uuid.UUID) -> None:
    """The booking's own story (booked, approved) at the head of the stay's timeline."""
    rows = conn.execute(
        "SELECT at, action, actor, detail FROM booking_audit WHERE booking_id = %s AND action IN ('create', 'approve')"
        " ORDER BY at, id",
        (booking_id,),
    ).fetchall()
    for at, action, actor, detail in rows:
        kind = "booked" if action == "create" else "approved"
        store.add_timeline(conn, visit_id, at, kind, {"booking_id": str(booking_id), "by": actor, **detail})


def exit_decided(
    conn: psycopg.Connection,
    *,
    site: str,
    gate_id: str,
    plate: str,
    inspection_id: uuid.UUID,
    result: str,
    at: datetime,
    reasons: Sequence[str] = (),
    by: str | None = None,
) -> uuid.UUID | None:
    """An exit decision (a change of its result): on the timeline; on ``pass`` the stay closes and
    the vehicle has left (dwell alerts resolve). Returns the stay's id, None when there is none."""
    with conn.transaction():
        visit = store.open_visit(conn, site, plate, lock=True)
        if visit is None or visit.state is not VisitState.INSIDE:
            return None
        detail: dict[str, object] = {
            "inspection_id": str(inspection_id),
            "gate_id": gate_id,
            "result": result,
            "reasons": list(reasons),
        }
        if by is not None:
            detail["override_by"] = by
        store.add_timeline(conn, visit.id, at, "exit_inspection", detail)
        if result != "pass":
            return visit.id
        store.visit_closed(conn, visit.id, at, "exit", by, exit_inspection_id=inspection_id)
        store.add_timeline(conn, visit.id, at, "exited", {"gate_id": gate_id, "inspection_id": str(inspection_id)})
        departures.vehicle_left(conn, plate=plate, site=site, ts=at, gate_id=gate_id)
        return visit.id


def close_by_officer(
    conn: psycopg.Connection,
    visit_id: uuid.UUID,
    *,
    by: str,
    reason: str,
    at: datetime,
) -> Visit:
    """An officer closes a stay (a tanker turned away from the lot, one that left unseen), with a reason."""
    with conn.transaction():
        visit = _visit(conn, visit_id)
        if visit.state is VisitState.CLOSED:
            raise Conflict("visit_closed", f"visit {visit_id} is already closed", hint="nothing to do")
        store.visit_closed(conn, visit.id, at, "officer", by)
        store.add_timeline(conn, visit.id, at, "closed", {"by": by, "reason": reason, "was": visit.state.value})
        if visit.state is VisitState.INSIDE:
            departures.vehicle_left(conn, plate=visit.plate, site=visit.site, ts=at, gate_id=None)
        elif visit.booking_id is not None:
            booking = store.booking(conn, visit.booking_id, lock=True)
            if booking is not None and booking.state is BookingState.ARRIVED:
                store.set_booking_state(conn, booking.id, BookingState.CANCELLED, reason)
                store.audit_booking(conn, booking.id, by, "cancel", {"reason": reason, "visit_id": str(visit.id)})
    return _visit(conn, visit_id)


def assign_tracker(conn: psycopg.Connection, visit_id: uuid.UUID, device_id: str, *, by: str, at: datetime) -> Visit:
    """A GPS tracker handed out at the gate follows this stay."""
    with conn.transaction():
        visit = _visit(conn, visit_id)
        if visit.state is VisitState.CLOSED:
            raise Conflict("visit_closed", f"visit {visit_id} is closed", hint="assign trackers to open stays only")
        device = store.device(conn, device_id)
        if device is None:
            raise NotFound("device_not_found", f"no device {device_id}", hint="register it with `hazgate devices add`")
        if device["type"] != "gps_tracker" or device["site"] != visit.site:
            raise Invalid(
                "not_a_tracker_here",
                f"{device_id} is a {device['type']} of site {device['site']}, not a gps_tracker of {visit.site}",
                hint="hand out a gps_tracker registered to this site",
            )
        store.visit_tracker(conn, visit.id, device_id)
        store.add_timeline(conn, visit.id, at, "tracker_assigned", {"device_id": device_id, "by": by})
    return _visit(conn, visit_id)


def close_waybill(
    conn: psycopg.Connection,
    visit_id: uuid.UUID,
    *,
    operation: str,
    by: str,
    at: datetime,
    quantity_kg: float | None = None,
    zone_id: str | None = None,
) -> Visit:
    """The enterprise confirms the loading or unloading the waybill is for: the exit gate's
    ``waybill_closed`` passes from now on."""
    with conn.transaction():
        visit = _visit(conn, visit_id)
        if visit.state is not VisitState.INSIDE:
            raise Conflict(
                "visit_not_inside",
                f"visit {visit_id} is {visit.state.value}; only a stay inside the park loads or unloads",
                hint="check the plate and the visit",
            )
        store.visit_waybill_closed(conn, visit.id, at)
        detail: dict[str, object] = {"operation": operation, "by": by, "waybill_no": visit.waybill_no}
        if quantity_kg is not None:
            detail["quantity_kg"] = quantity_kg
        if zone_id is not None:
            detail["zone_id"] = zone_id
        store.add_timeline(conn, visit.id, at, "waybill_closed", detail)
    return _visit(conn, visit_id)


def _visit(conn: psycopg.Connection, visit_id: uuid.UUID) -> Visit:
    found = store.visit(conn, visit_id)
    if found is None:
        raise NotFound("not_found", f"no visit {visit_id}", hint="list them with GET /api/v1/visits")
    return found


def full_visit(conn: psycopg.Connection, visit_id: uuid.UUID, now: datetime) -> Visit:
    """The stay with its cargo, its tracker's latest position and its timeline (alerts included)."""
    visit = _visit(conn, visit_id)
    until = visit.closed_at or now
    entries = store.timeline(conn, visit.id) + store.alerts_during(conn, visit, until)
    tracker = store.tracker_of(conn, visit)
    position = None if tracker is None else store.latest_position(conn, tracker)
    if position is not None:
        position = position.model_copy(update={"zone_id": zone_at(conn, visit.site, position.lon, position.lat)})
    return visit.model_copy(
        update={
            "cargo": store.cargo(conn, visit.waybill_no),
            "position": position,
            "timeline": sorted(entries, key=lambda e: e.ts),
        }
    )
