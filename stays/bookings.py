"""预约入园: a booking with its pre-check, approved or refused by the park or the enterprise,
cancelled by the carrier, expired when its slot passed unused.

requested → approved | refused; approved → arrived (at the lot) → used (through the entry gate);
requested | approved → expired | cancelled.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg

from checks import CheckPolicy, Decision
from checks.precheck import BookingRequestFacts, precheck
from checks.stay_facts import BookingState
from registry import store as registry_store
from registry.identifiers import canonical_plate
from stays import store
from stays.blacklist import BlacklistLookup
from stays.errors import Conflict, Invalid, NotFound
from stays.models import Booking

# Who may do what, from which states.
FROM_STATES = {
    "approve": {BookingState.REQUESTED},
    "refuse": {BookingState.REQUESTED, BookingState.APPROVED},
    "cancel": {BookingState.REQUESTED, BookingState.APPROVED, BookingState.ARRIVED},
}
TO_STATE = {"approve": BookingState.APPROVED, "refuse": BookingState.REFUSED, "cancel": BookingState.CANCELLED}


def precheck_json(decision: Decision) -> dict[str, Any]:
    return {
        "result": decision.result.value,
        "checks": [c.model_dump(mode="json") for c in decision.checks],
    }


def request_facts(
    conn: psycopg.Connection,
    *,
    plate: str,
    waybill_no: str,
    driver_id: str | None,
    escort_id: str | None,
    slot_start: datetime,
    slot_end: datetime,
) -> BookingRequestFacts:
    """The registry records a booking names; the crew is the booking's, else the waybill's."""
    found = registry_store.vehicle(conn, plate)
    vehicle, carrier = found if found is not None else (None, None)
    waybill = registry_store.waybill(conn, waybill_no)
    driver_id = driver_id or (waybill.driver_id if waybill else None)
    escort_id = escort_id or (waybill.escort_id if waybill else None)
    driver = registry_store.person(conn, driver_id) if driver_id else None
    escort = registry_store.person(conn, escort_id) if escort_id else None
    return BookingRequestFacts(
        plate=plate,
        vehicle=vehicle,
        carrier=carrier if carrier is not None and vehicle is not None else None,
        waybill_no=waybill_no,
        waybill=waybill,
        driver_id=driver_id,
        escort_id=escort_id,
        driver=None if driver is None else driver.record,
        escort=None if escort is None else escort.record,
        slot_start=slot_start,
        slot_end=slot_end,
    )


def create(
    conn: psycopg.Connection,
    *,
    site: str,
    plate: str,
    waybill_no: str,
    slot_start: datetime,
    slot_end: datetime,
    enterprise: str | None,
    driver_id: str | None,
    escort_id: str | None,
    by: str,
    now: datetime,
    blacklist: BlacklistLookup,
    policy: CheckPolicy,
) -> Booking:
    """A new booking in state ``requested``, with the pre-check the carrier reads at once."""
    if slot_end <= slot_start:
        raise Invalid("invalid_slot", "slot_end must be after slot_start", hint="send a slot that ends after it starts")
    if slot_end <= now:
        raise Invalid("slot_in_the_past", "the slot has already ended", hint="book a slot that ends in the future")
    plate = canonical_plate(plate)
    facts = request_facts(
        conn,
        plate=plate,
        waybill_no=waybill_no.strip(),
        driver_id=driver_id,
        escort_id=escort_id,
        slot_start=slot_start,
        slot_end=slot_end,
    )
    # Listed now, or by the slot's start: a listing made today counts for a slot that began earlier.
    decision = precheck(facts, blacklist(conn, facts.subjects(), max(now, slot_start)), policy)
    booking = Booking(
        id=uuid.uuid4(),
        site=site,
        plate=plate,
        waybill_no=facts.waybill_no,
        driver_id=facts.driver_id,
        escort_id=facts.escort_id,
        slot_start=slot_start,
        slot_end=slot_end,
        enterprise=enterprise,
        state=BookingState.REQUESTED,
        precheck=precheck_json(decision),
        created_by=by,
        created_at=now,
        updated_at=now,
    )
    with conn.transaction():
        store.insert_booking(conn, booking)
        store.audit_booking(
            conn,
            booking.id,
            by,
            "create",
            {"slot_start": slot_start.isoformat(), "slot_end": slot_end.isoformat(), "precheck": decision.result.value},
        )
    return get(conn, booking.id, now)


def get(conn: psycopg.Connection, booking_id: uuid.UUID, now: datetime) -> Booking:
    store.expire_bookings(conn, now)
    found = store.booking(conn, booking_id)
    if found is None:
        raise NotFound("not_found", f"no booking {booking_id}", hint="list them with GET /api/v1/bookings")
    return found


def change(
    conn: psycopg.Connection, booking_id: uuid.UUID, action: str, *, by: str, now: datetime, reason: str | None = None
) -> Booking:
    """approve, refuse (with a reason) or cancel."""
    with conn.transaction():
        store.expire_bookings(conn, now)
        found = store.booking(conn, booking_id, lock=True)
        if found is None:
            raise NotFound("not_found", f"no booking {booking_id}", hint="list them with GET /api/v1/bookings")
        if found.state not in FROM_STATES[action]:
            allowed = ", ".join(sorted(s.value for s in FROM_STATES[action]))
            raise Conflict(
                "booking_state",
                f"booking {booking_id} is {found.state.value}; {action} needs one that is {allowed}",
                hint="read the booking's state first",
            )
        store.set_booking_state(conn, booking_id, TO_STATE[action], reason)
        store.audit_booking(
            conn, booking_id, by, action, {"from": found.state.value, "to": TO_STATE[action].value, "reason": reason}
        )
        if action == "cancel" and found.state is BookingState.ARRIVED:
            visit = store.open_visit(conn, found.site, found.plate, lock=True)
            if visit is not None and visit.booking_id == booking_id and visit.state.value == "queued":
                store.visit_closed(conn, visit.id, now, "booking_cancelled", by)
                store.add_timeline(conn, visit.id, now, "closed", {"by": by, "reason": reason or "booking cancelled"})
    return get(conn, booking_id, now)


def expire(conn: psycopg.Connection, now: datetime) -> list[uuid.UUID]:
    with conn.transaction():
        return store.expire_bookings(conn, now)
