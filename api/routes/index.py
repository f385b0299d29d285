"""The monthly risk index (指数评价) and the monthly report's figures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.deps import ApiError, Conn
from api.routes.alert_common import Officer
from api.sync_db import run_sync
from hazgate.settings import Settings
from registry import blacklist
from registry.blacklist import Subject
from risk.errors import RiskError
from risk.figures import MonthlyFigures, monthly_figures
from risk.index import KIND_OF_PATH, Deduction, compute_index
from risk.records import month_records, month_window

router = APIRouter(prefix="/api/v1", tags=["risk index"])
Site = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="the site id")]
Month = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM; default: this month")]
LISTED_KIND = {"carrier": "carrier", "vehicle": "vehicle", "driver": "person"}


class IndexRowOut(BaseModel):
    id: str
    name: str | None = None
    score: float
    grade: Literal["green", "yellow", "red"]
    deductions: list[Deduction]
    lists: list[Literal["black", "watch"]] = Field([], description="lists the subject is on now")


def _month(month: str | None, settings: Settings, site: str) -> str:
    return month or datetime.now(settings.for_site(site).tz).strftime("%Y-%m")


def _checked(month: str, settings: Settings, site: str) -> str:
    try:
        month_window(month, settings.for_site(site).tz)
    except RiskError as exc:
        raise ApiError(422, "invalid_month", f"{exc.message}; {exc.hint}") from exc
    return month


@router.get("/index/{kind}", response_model=list[IndexRowOut])
async def get_index(
    kind: Literal["carriers", "vehicles", "drivers"],
    request: Request,
    conn: Conn,
    _p: Officer,
    site: Site,
    month: Month = None,
) -> list[IndexRowOut]:
    """Each carrier, vehicle or driver seen at the site in the month: 100 points less deductions,
    grade, and the evidence of every deduction; reddest first."""
    settings: Settings = request.app.state.settings
    cfg = settings.for_site(site)
    m = _checked(_month(month, settings, site), settings, site)
    subject_kind = KIND_OF_PATH[kind]
    rows = await run_sync(request, lambda c: compute_index(subject_kind, month_records(c, site, m, cfg.tz), cfg.index))
    subjects = [Subject(kind=LISTED_KIND[subject_kind], id=r.id) for r in rows]
    listed = await blacklist.find_active_async(conn, subjects, datetime.now(UTC), lists=("black", "watch"))
    on: dict[str, set[str]] = {}
    for item in listed:
        on.setdefault(item.subject_id, set()).add(item.list)
    return [IndexRowOut(**r.model_dump(), lists=sorted(on.get(r.id, set()))) for r in rows]


@router.get("/reports/monthly", response_model=MonthlyFigures)
async def get_monthly_report(request: Request, _p: Officer, site: Site, month: Month = None) -> Any:
    """The figures of `hazgate report monthly` (gate, alerts, index), as JSON."""
    settings: Settings = request.app.state.settings
    cfg = settings.for_site(site)
    m = _checked(_month(month, settings, site), settings, site)
    return await run_sync(request, lambda c: monthly_figures(month_records(c, site, m, cfg.tz), cfg.index))
