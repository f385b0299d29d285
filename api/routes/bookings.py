"""预约入园: bookings with their pre-check, approved or refused by the park, cancelled, expired."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal
from uuid import UUID

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from api import sync_db
from api.auth import Principal, Role
from api.deps import require
from api.openapi import errors
from stays import bookings, store
from stays.models import Booking

router = APIRouter(prefix="/api/v1/bookings", tags=["bookings"])
Staff = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER))]
State = Literal["requested", "approved", "refused", "arrived", "used", "expired", "cancelled"]


class BookingIn(BaseModel):
    site: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    plate: str = Field(min_length=2, max_length=16)
    waybill_no: str = Field(min_length=1, max_length=64)
    slot_start: AwareDatetime
    slot_end: AwareDatetime
    enterprise: str | None = Field(None, max_length=200, description="the receiving or loading enterprise")
    driver_id: str | None = Field(None, max_length=18, description="the driver coming; default: the waybill's")
    escort_id: str | None = Field(None, max_length=18, description="the escort coming; default: the waybill's")


class ReasonIn(BaseModel):
    reason: str = Field(min_length=3, max_length=1000)


class CancelIn(BaseModel):
    reason: str | None = Field(None, max_length=1000)


@router.post("", response_model=Booking, status_code=201, responses=errors(422))
async def create_booking(body: BookingIn, staff: Staff, request: Request) -> Booking:
    """Book a slot; the answer's ``precheck`` says what would fail at the gate (the 五必查 known
    before arrival, for the whole slot, and the blacklist)."""
    work = partial(
        bookings.create,
        site=body.site,
        plate=body.plate,
        waybill_no=body.waybill_no,
        slot_start=body.slot_start,
        slot_end=body.slot_end,
        enterprise=body.enterprise,
        driver_id=body.driver_id,
        escort_id=body.escort_id,
        by=staff.name,
        now=sync_db.now(),
        blacklist=sync_db.blacklist(request),
        policy=sync_db.policy(request),
    )
    return await sync_db.run(request, work)


@router.get("", response_model=list[Booking])
async def list_bookings(
    _staff: Staff,
    request: Request,
    site: str | None = None,
    state: State | None = None,
    plate: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Booking]:
    def work(conn: psycopg.Connection) -> list[Booking]:
        bookings.expire(conn, sync_db.now())
        return store.list_bookings(conn, site, state, plate, limit)

    return await sync_db.run(request, work)


@router.get("/{booking_id}", response_model=Booking)
async def get_booking(booking_id: UUID, _staff: Staff, request: Request) -> Booking:
    return await sync_db.run(request, partial(bookings.get, booking_id=booking_id, now=sync_db.now()))


@router.post("/{booking_id}/approve", response_model=Booking, responses=errors(409))
async def approve_booking(booking_id: UUID, staff: Staff, request: Request) -> Booking:
    work = partial(bookings.change, booking_id=booking_id, action="approve", by=staff.name, now=sync_db.now())
    return await sync_db.run(request, work)


@router.post("/{booking_id}/refuse", response_model=Booking, responses=errors(409))
async def refuse_booking(booking_id: UUID, body: ReasonIn, staff: Staff, request: Request) -> Booking:
    work = partial(
        bookings.change, booking_id=booking_id, action="refuse", by=staff.name, now=sync_db.now(), reason=body.reason
    )
    return await sync_db.run(request, work)


@router.post("/{booking_id}/cancel", response_model=Booking, responses=errors(409))
async def cancel_booking(booking_id: UUID, staff: Staff, request: Request, body: CancelIn | None = None) -> Booking:
    reason = body.reason if body is not None else None
    work = partial(
        bookings.change, booking_id=booking_id, action="cancel", by=staff.name, now=sync_db.now(), reason=reason
    )
    return await sync_db.run(request, work)
