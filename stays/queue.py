"""The waiting lot (危化品车辆停车场): a tanker arriving is queued; the park calls the next one
to the gate, first come first served among those whose slot has started; each lot holds at most
its capacity.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import psycopg

from checks import CheckPolicy
from checks.stay_facts import ADMITTING, BookingSeen, BookingState
from registry.identifiers import canonical_plate
from stays import lifecycle, store
from stays.errors import Conflict, NotFound
from stays.models import QueueEntry, Visit, VisitState


def _booking_for_arrival(bookings: list[BookingSeen], now: datetime, policy: CheckPolicy) -> BookingSeen | None:
    """An approved booking not over yet (arriving early is normal: the tanker waits in the lot)."""
    grace = timedelta(seconds=policy.booking_grace_s)
    fitting = [b for b in bookings if b.state in ADMITTING and now <= b.slot_end + grace]
    return min(fitting, key=lambda b: b.slot_start, default=None)


def arrive(
    conn: psycopg.Connection,
    *,
    site: str,
    lot_id: str,
    plate: str,
    at: datetime,
    source: str,
    policy: CheckPolicy,
) -> Visit:
    """Queue a tanker that arrived at the lot. Idempotent: a second read of a queued plate
    returns its stay. Raises ``NotFound`` (no such lot), ``Conflict`` (``lot_full``,
    ``booking_missing``, ``already_inside``)."""
    plate = canonical_plate(plate)
    with conn.transaction():
        found = store.lot(conn, site, lot_id)
        if found is None:
            raise NotFound(
                "lot_unknown",
                f"site {site} has no waiting lot {lot_id}",
                hint=f"add it with `hazgate lots set --site {site} --lot {lot_id} --capacity N`",
            )
        store.lock_lot(conn, site, lot_id)
        visit = store.open_visit(conn, site, plate, lock=True)
        if visit is not None and visit.state is VisitState.QUEUED:
            return visit
        if visit is not None:
            raise Conflict(
                "already_inside",
                f"{plate} is inside the park already (visit {visit.id})",
                hint="it must leave through an exit gate, or an officer closes its stay, before it queues again",
            )
        store.expire_bookings(conn, at)
        booking = _booking_for_arrival(store.plate_bookings(conn, site, plate, at), at, policy)
        if booking is None and store.bookings_required(conn, site):
            raise Conflict(
                "booking_missing",
                f"{plate} has no approved booking at {site}, which requires one",
                hint="the carrier books entry (POST /api/v1/bookings) and waits for approval",
            )
        queued = store.lot(conn, site, lot_id)
        if queued is not None and queued.queued >= queued.capacity:
            raise Conflict(
                "lot_full",
                f"waiting lot {lot_id} is full ({queued.queued} of {queued.capacity} places)",
                hint="send the tanker to wait outside the park until the park calls it, or call the next one in",
            )
        booking_id = None if booking is None else uuid.UUID(booking.id)
        waybill_no = None
        if booking_id is not None:
            record = store.booking(conn, booking_id, lock=True)
            waybill_no = None if record is None else record.waybill_no
        visit_id = uuid.uuid4()
        store.insert_visit(
            conn,
            visit_id=visit_id,
            site=site,
            plate=plate,
            state=VisitState.QUEUED,
            booking_id=booking_id,
            waybill_no=waybill_no,
            lot_id=lot_id,
            queued_at=at,
        )
        if booking_id is not None:
            lifecycle.add_booking_history(conn, visit_id, booking_id)
            store.set_booking_state(conn, booking_id, BookingState.ARRIVED)
            store.audit_booking(conn, booking_id, source, "arrived", {"lot_id": lot_id, "visit_id": str(visit_id)})
        store.add_timeline(conn, visit_id, at, "queued", {"lot_id": lot_id, "source": source})
    new = store.visit(conn, visit_id)
    assert new is not None
    return new


def waiting(
    conn: psycopg.Connection, site: str | None, lot_id: str | None, now: datetime, policy: CheckPolicy
) -> list[QueueEntry]:
    return store.queue_entries(store.queue(conn, site, lot_id), now, policy.booking_grace_s)


def call_next(
    conn: psycopg.Connection,
    *,
    site: str,
    lot_id: str | None,
    gate_id: str | None,
    by: str,
    at: datetime,
    policy: CheckPolicy,
) -> QueueEntry:
    """Call the first tanker not called yet whose slot has started (or that has no booking)."""
    with conn.transaction():
        if lot_id is not None:
            store.lock_lot(conn, site, lot_id)
        entries = waiting(conn, site, lot_id, at, policy)
        nxt = next((e for e in entries if e.called_at is None and e.eligible), None)
        if nxt is None:
            where = f"lot {lot_id}" if lot_id else f"the lots of {site}"
            raise Conflict(
                "queue_empty",
                f"nobody in {where} may be called now ({len(entries)} waiting)",
                hint="tankers whose slot has not started wait; try again later",
            )
        store.visit_called(conn, nxt.visit_id, at, gate_id)
        store.add_timeline(conn, nxt.visit_id, at, "called", {"gate_id": gate_id, "by": by, "position": nxt.position})
    return nxt.model_copy(update={"called_at": at, "called_gate": gate_id})
