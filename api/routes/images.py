"""Images captured at the gate (faces, ID-card photos, plates) for officers: biometric data,
shown only within the retention window, rate-limited per person, and every view on record."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from typing import Annotated, Final
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel

from api.audit import record
from api.auth import Principal, Role
from api.deps import ApiError, Conn, require
from api.openapi import errors
from api.ratelimit import limits

router = APIRouter(prefix="/api/v1/gate-images", tags=["inspections"])
Officer = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER))]
THUMB_MAX_PX: Final = 480


class GateImageOut(BaseModel):
    event_id: UUID
    inspection_id: UUID | None
    kind: str
    role: str | None
    captured_at: datetime


def _retention_days(request: Request) -> int:
    days: int = request.app.state.settings.gate.image_retention_days
    return days


def _limit(request: Request, officer: Principal) -> None:
    wait = limits(request.app).face_user.hit(str(officer.user_id))
    if wait is not None:
        raise ApiError(429, "rate_limited", f"too many face images; wait {wait} s", {"Retry-After": str(wait)})


@router.get("", response_model=list[GateImageOut], responses=errors(429))
async def list_images(inspection_id: UUID, conn: Conn, officer: Officer, request: Request) -> list[dict[str, object]]:
    """The images of one inspection still within the biometric retention window."""
    _limit(request, officer)
    cur = await conn.execute(
        "SELECT event_id, inspection_id, kind, role, captured_at FROM gate_images"
        " WHERE inspection_id = %s AND captured_at > now() - make_interval(days => %s) ORDER BY captured_at",
        (inspection_id, _retention_days(request)),
    )
    cols = [c.name for c in cur.description or []]
    return [dict(zip(cols, r, strict=True)) for r in await cur.fetchall()]


def thumbnail(data: bytes, size: int) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((size, size))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=82)
        return out.getvalue()


@router.get(
    "/{event_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "the image as JPEG"}, **errors(409, 410, 429)},
)
async def get_image(
    event_id: UUID,
    conn: Conn,
    officer: Officer,
    request: Request,
    size: Annotated[int, Query(ge=32, le=THUMB_MAX_PX, description="longest side in pixels")] = 160,
) -> Response:
    """A face, ID-card or plate image as a JPEG thumbnail; gone once past the retention window."""
    _limit(request, officer)
    cur = await conn.execute(
        "SELECT image, kind, role, inspection_id, captured_at > now() - make_interval(days => %s)"
        " FROM gate_images WHERE event_id = %s",
        (_retention_days(request), event_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"no image of gate event {event_id}")
    if not row[4]:
        raise ApiError(410, "retention_expired", "biometric images are deleted after the retention period")
    try:
        jpeg = await asyncio.to_thread(thumbnail, bytes(row[0]), size)
    except (UnidentifiedImageError, OSError) as exc:
        raise ApiError(409, "unreadable_image", f"the stored image cannot be read: {exc}") from None
    detail = {"kind": row[1], "role": row[2], "inspection_id": str(row[3]) if row[3] else None}
    await record(conn, officer, "biometric_viewed", obj=f"gate_image:{event_id}", status=200, detail=detail)
    await conn.commit()
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
