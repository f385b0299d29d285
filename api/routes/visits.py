"""Visits: one tanker's stay from the waiting lot to the exit gate, with its timeline."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal
from uuid import UUID

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from api import sync_db
from api.auth import Principal, Role
from api.deps import require
from api.openapi import errors
from registry.identifiers import canonical_plate
from stays import lifecycle, store
from stays.models import Visit

router = APIRouter(prefix="/api/v1/visits", tags=["visits"])
Staff = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER))]


class TrackerIn(BaseModel):
    device_id: str = Field(min_length=1, max_length=64, description="a gps_tracker of the visit's site")


class WaybillCloseIn(BaseModel):
    operation: Literal["loaded", "unloaded"] = Field(description="what the enterprise confirms was done")
    quantity_kg: float | None = Field(None, gt=0, le=100_000)
    zone_id: str | None = Field(None, max_length=64, description="the filling bay, where known")


class CloseIn(BaseModel):
    reason: str = Field(min_length=5, max_length=1000, description="why the officer closes the stay")


@router.get("", response_model=list[Visit])
async def list_visits(
    _staff: Staff,
    request: Request,
    site: str | None = None,
    state: Literal["queued", "inside", "closed"] | None = None,
    plate: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Visit]:
    """Stays, newest first, each with its cargo (the timeline is on the visit's own page)."""
    wanted = canonical_plate(plate) if plate else None

    def work(conn: psycopg.Connection) -> list[Visit]:
        found = store.list_visits(conn, site, state, wanted, limit)
        return [v.model_copy(update={"cargo": store.cargo(conn, v.waybill_no)}) for v in found]

    return await sync_db.run(request, work)


@router.get("/{visit_id}", response_model=Visit)
async def get_visit(visit_id: UUID, _staff: Staff, request: Request) -> Visit:
    """The stay with its cargo (from the waybill), its tracker's latest position and its timeline."""
    return await sync_db.run(request, partial(lifecycle.full_visit, visit_id=visit_id, now=sync_db.now()))


@router.post("/{visit_id}/tracker", response_model=Visit, responses=errors(409))
async def assign_tracker(visit_id: UUID, body: TrackerIn, staff: Staff, request: Request) -> Visit:
    """A GPS tracker handed out at the gate follows this stay (its position is the visit's)."""
    work = partial(
        lifecycle.assign_tracker, visit_id=visit_id, device_id=body.device_id, by=staff.name, at=sync_db.now()
    )
    await sync_db.run(request, work)
    return await sync_db.run(request, partial(lifecycle.full_visit, visit_id=visit_id, now=sync_db.now()))


@router.post("/{visit_id}/waybill-close", response_model=Visit, responses=errors(409))
async def close_waybill(visit_id: UUID, body: WaybillCloseIn, staff: Staff, request: Request) -> Visit:
    """The enterprise confirms the loading or unloading: the exit gate's ``waybill_closed`` passes."""
    work = partial(
        lifecycle.close_waybill,
        visit_id=visit_id,
        operation=body.operation,
        by=staff.name,
        at=sync_db.now(),
        quantity_kg=body.quantity_kg,
        zone_id=body.zone_id,
    )
    await sync_db.run(request, work)
    return await sync_db.run(request, partial(lifecycle.full_visit, visit_id=visit_id, now=sync_db.now()))


@router.post("/{visit_id}/close", response_model=Visit, responses=errors(409))
async def close_visit(visit_id: UUID, body: CloseIn, staff: Staff, request: Request) -> Visit:
    """An officer closes a stay, with a reason (a tanker turned away from the lot, one gone unseen)."""
    work = partial(
        lifecycle.close_by_officer,
        visit_id=visit_id,
        by=staff.name,
        reason=body.reason,
        at=sync_db.now(),
    )
    await sync_db.run(request, work)
    return await sync_db.run(request, partial(lifecycle.full_visit, visit_id=visit_id, now=sync_db.now()))
