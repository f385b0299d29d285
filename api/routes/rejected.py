"""Inputs refused, each with its reason: nothing is dropped silently."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel

from api.auth import Principal, Role
from api.deps import Conn, require

router = APIRouter(prefix="/api/v1/rejected", tags=["rejected"])


class RejectedOut(BaseModel):
    id: int
    received_at: datetime
    source: str
    topic: str | None
    device_id: str | None
    reason: str
    detail: str
    payload_excerpt: str | None
    payload_bytes: int | None


@router.get("", response_model=list[RejectedOut])
async def list_rejected(
    conn: Conn,
    _p: Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER))],
    reason: str | None = None,
    device_id: str | None = None,
    since: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, received_at, source, topic, device_id, reason, detail, payload_excerpt, payload_bytes"
        " FROM rejected WHERE (%(reason)s::text IS NULL OR reason = %(reason)s)"
        " AND (%(device)s::text IS NULL OR device_id = %(device)s)"
        " AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)"
        " ORDER BY id DESC LIMIT %(limit)s",
        {"reason": reason, "device": device_id, "since": since, "limit": limit},
    )
    cols = [c.name for c in cur.description or []]
    return [dict(zip(cols, row, strict=True)) for row in await cur.fetchall()]
