"""Silences (maintenance windows): matching alerts are still recorded, their notifications held
back until the silence ends; what was held then goes out (alerts.lifecycle.due_notifications)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from alerts.lifecycle import Silence, SilenceMatchers
from api.deps import ApiError, Conn
from api.routes.alert_common import Deleted, Officer, unprocessable, write_transaction

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])

# A maintenance window longer than a year is a rule that should be deleted, not silenced.
MAX_SILENCE_S: Final = 366 * 86400.0


class SilenceIn(BaseModel):
    """At least one of site, device_id, rule_id; an end (``ends_at``) or a length (``duration_s``)."""

    site: str | None = None
    device_id: str | None = None
    rule_id: str | None = None
    starts_at: AwareDatetime | None = Field(None, description="default: now")
    ends_at: AwareDatetime | None = None
    duration_s: float | None = Field(None, gt=0, le=MAX_SILENCE_S, allow_inf_nan=False)
    reason: str


class SilenceOut(BaseModel):
    id: str
    site: str | None
    device_id: str | None
    rule_id: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    active: bool


_SELECT = (
    "SELECT id::text, site, device_id, rule_id, starts_at, ends_at, reason, created_by, created_at FROM alert_silences"
)


def _out(row: tuple[Any, ...]) -> SilenceOut:
    cols = ("id", "site", "device_id", "rule_id", "starts_at", "ends_at", "reason", "created_by", "created_at")
    data = dict(zip(cols, row, strict=True))
    now = datetime.now(UTC)
    return SilenceOut(**data, active=data["starts_at"] <= now < data["ends_at"])


@router.get("", response_model=list[SilenceOut])
async def list_silences(
    conn: Conn, _p: Officer, include_ended: Annotated[bool, Query(description="also silences already over")] = False
) -> list[SilenceOut]:
    cur = await conn.execute(
        f"{_SELECT} WHERE %(all)s OR ends_at > now() ORDER BY starts_at DESC LIMIT 1000", {"all": include_ended}
    )
    return [_out(r) for r in await cur.fetchall()]


@router.post("", response_model=SilenceOut, status_code=201)
async def create_silence(body: SilenceIn, conn: Conn, principal: Officer) -> SilenceOut:
    starts = body.starts_at or datetime.now(UTC)
    if (body.ends_at is None) == (body.duration_s is None):
        raise ApiError(422, "invalid_silence", "give exactly one of ends_at and duration_s")
    try:
        ends = body.ends_at or starts + timedelta(seconds=body.duration_s or 0)
    except OverflowError:
        raise ApiError(422, "invalid_silence", "starts_at + duration_s lies beyond the year 9999") from None
    try:
        silence = Silence(
            matchers=SilenceMatchers(site=body.site, device_id=body.device_id, rule_id=body.rule_id),
            starts_at=starts,
            ends_at=ends,
            reason=body.reason,
            created_by=principal.name,
        )
    except ValidationError as exc:
        raise unprocessable("invalid_silence", exc) from exc
    m = silence.matchers
    async with write_transaction(conn):
        cur = await conn.execute(
            "INSERT INTO alert_silences (id, site, device_id, rule_id, starts_at, ends_at, reason, created_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id::text, site, device_id, rule_id, starts_at, ends_at, reason, created_by, created_at",
            (
                uuid.uuid4(),
                m.site,
                m.device_id,
                m.rule_id,
                silence.starts_at,
                silence.ends_at,
                silence.reason,
                silence.created_by,
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return _out(row)


@router.delete("/{silence_id}", response_model=Deleted)
async def end_silence(silence_id: uuid.UUID, conn: Conn, _p: Officer) -> Deleted:
    """End a silence now (one not yet begun is removed); what it held back becomes due."""
    async with write_transaction(conn):
        cur = await conn.execute(
            "DELETE FROM alert_silences WHERE id = %(id)s AND starts_at >= now() RETURNING id::text, now()",
            {"id": silence_id},
        )
        row = await cur.fetchone()
        if row is None:
            cur = await conn.execute(
                "UPDATE alert_silences SET ends_at = now() WHERE id = %(id)s AND ends_at > now()"
                " RETURNING id::text, ends_at",
                {"id": silence_id},
            )
            row = await cur.fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"no silence {silence_id} that has not ended")
    return Deleted(id=row[0], deleted_at=row[1])
