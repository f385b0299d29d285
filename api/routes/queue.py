"""The waiting lot's queue: tankers arriving, the park calling the next one to the gate."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from api import sync_db
from api.auth import Principal, Role
from api.deps import ApiError, require
from api.openapi import errors
from stays import queue, store
from stays.models import Lot, QueueEntry, Visit

router = APIRouter(prefix="/api/v1/queue", tags=["queue"])
Staff = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER))]
Viewer = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER, Role.KIOSK))]
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class QueueOut(BaseModel):
    site: str | None = Field(description="the site asked for; null: every site")
    lots: list[Lot]
    waiting: list[QueueEntry]


class ArrivalIn(BaseModel):
    site: str = Field(pattern=NAME)
    lot_id: str = Field(pattern=NAME)
    plate: str = Field(min_length=2, max_length=16)


class CallIn(BaseModel):
    site: str = Field(pattern=NAME)
    lot_id: str | None = Field(None, pattern=NAME, description="call from this lot only")
    gate_id: str | None = Field(None, pattern=NAME, description="the gate the tanker is called to")


@router.get("", response_model=QueueOut)
async def get_queue(principal: Viewer, request: Request, site: str | None = None, lot: str | None = None) -> QueueOut:
    """Who waits in the lots, in the order they will be called (the kiosk: its own site's)."""
    if principal.role is Role.KIOSK:
        if site is not None and site != principal.site:
            raise ApiError(403, "forbidden", "a kiosk sees only its own site's queue")
        site = principal.site

    def work(conn: psycopg.Connection) -> QueueOut:
        waiting = queue.waiting(conn, site, lot, sync_db.now(), sync_db.policy(request))
        return QueueOut(site=site, lots=store.lots(conn, site), waiting=waiting)

    return await sync_db.run(request, work)


@router.post("/arrivals", response_model=Visit, status_code=201, responses=errors(404, 409))
async def arrive(body: ArrivalIn, staff: Staff, request: Request) -> Visit:
    """A tanker arrived at the lot (as the lot's plate camera reports): queued, its stay begins."""
    work = partial(
        queue.arrive,
        site=body.site,
        lot_id=body.lot_id,
        plate=body.plate,
        at=sync_db.now(),
        source=f"api {staff.name}",
        policy=sync_db.policy(request),
    )
    return await sync_db.run(request, work)


@router.post("/call", response_model=QueueEntry, responses=errors(409))
async def call_next(body: CallIn, staff: Staff, request: Request) -> QueueEntry:
    """Call the next tanker to the gate: first come first served among those whose slot started."""
    work = partial(
        queue.call_next,
        site=body.site,
        lot_id=body.lot_id,
        gate_id=body.gate_id,
        by=staff.name,
        at=sync_db.now(),
        policy=sync_db.policy(request),
    )
    return await sync_db.run(request, work)
