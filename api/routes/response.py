"""Emergency response: the substance catalogue and an alert's response card (应急救援)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import Principal, Role
from api.deps import ApiError, require
from api.routes.alert_common import Officer
from api.sync_db import run_sync
from emergency.card import ResponseCard
from emergency.catalogue import Isolation, Protective, ZoneStore, resolve
from emergency.erg import Table3Entry
from emergency.park import park_entry
from emergency.sources import NoSubstance, NoSuchAlert, build_card
from hazgate.settings import Settings
from registry.identifiers import normalize_un_number

# Cards for times hazgate can have records of; beyond these, date arithmetic would overflow.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
router = APIRouter(prefix="/api/v1", tags=["emergency response"])
Reader = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER, Role.SUBSCRIBER))]


class SubstanceOut(BaseModel):
    """CONTRACT.md's substance, plus where each value comes from and where the park stores it."""

    un: str
    name_en: str | None
    name_zh: str | None = None
    hazard_class: str | None = Field(None, serialization_alias="class")
    erg_guide: int | None = None
    guide_title: str | None = None
    tih: bool
    isolation_m: Isolation | None = None
    protective_m: Protective | None = None
    fire_isolation_m: int | None = None
    distance_source: str | None = Field(
        None, description="table1, table1_water (when spilled in water), guide (the guide's own isolation)"
    )
    water_reactive_gases: list[str] = []
    table3: list[Table3Entry] = Field([], description="ERG Table 3: large spills by container and wind")
    erg_name: str | None = None
    stored_in: list[ZoneStore] = []
    sources: list[str] = []
    notes: str | None = None


@router.get(
    "/substances/{un}",
    response_model=SubstanceOut,
    response_model_by_alias=True,
    responses={404: {"description": "no such UN number in the shipped tables or the park catalogue"}},
)
async def get_substance(un: str, request: Request, _p: Reader) -> Any:
    """A substance by UN number (``UN1017`` or ``1017``): the shipped ERG 2016 and UN tables with
    the park catalogue's entry on top (names, class, guide, zones storing it)."""
    try:
        canonical = normalize_un_number(un if un.upper().startswith("UN") else f"UN{un}")
    except ValueError as exc:
        raise ApiError(422, "invalid_un", str(exc)) from exc
    substance = await run_sync(request, lambda conn: resolve(canonical, park_entry(conn, canonical)))
    if substance is None:
        raise ApiError(
            404,
            "unknown_substance",
            f"{canonical} is in neither the shipped tables nor the park catalogue; "
            "add it with `hazgate substances import`",
        )
    return SubstanceOut.model_validate(substance.model_dump())


@router.get(
    "/alerts/{alert_id}/response",
    response_model=ResponseCard,
    response_model_by_alias=True,
    responses={404: {"description": "no such alert, or it involves no known substance"}},
)
async def get_response(
    alert_id: UUID,
    request: Request,
    _p: Officer,
    spill: Annotated[Literal["small", "large"] | None, Query(description="default: the site's default_spill")] = None,
    at: Annotated[
        AwareDatetime | None,
        Query(description="the card at this time (positions up to it); default now, or the end of a resolved alert"),
    ] = None,
) -> Any:
    """The emergency response card of an alert that involves a substance: the guide, ERG
    distances for the spill size by day or night at the park, the centre, what lies inside the
    protective radius with distances, and the nearest assembly points."""
    settings: Settings = request.app.state.settings
    if at is not None and not EARLIEST <= at.astimezone(UTC) <= LATEST:
        raise ApiError(422, "invalid_time", f"at={at.isoformat()} lies outside {EARLIEST.year}-{LATEST.year}")

    def build(conn: Any) -> ResponseCard:
        return build_card(conn, settings.for_site, str(alert_id), at=at, spill=spill)

    try:
        return await run_sync(request, build)
    except NoSuchAlert as exc:
        raise ApiError(404, "not_found", exc.message) from exc
    except NoSubstance as exc:
        raise ApiError(404, "no_substance", f"{exc.message}; {exc.hint}") from exc
