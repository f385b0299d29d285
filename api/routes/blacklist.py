"""Black list and watch list of vehicles, people and carriers: add, list, remove; all audited.

``/api/v1/blacklist`` is CONTRACT.md's; ``/api/v1/watchlist`` takes the same bodies and only
flags subjects for officers (the risk index's red ones, say). Every change writes a row of
``subject_listing_audit`` in the same transaction (and the person audit of every API change).
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import ApiError, Conn
from api.routes.alert_common import Officer, write_transaction
from registry import blacklist
from registry.blacklist import Listing, ListingError, ListKind, SubjectKind

# Text PostgreSQL can store and a kiosk can show: no control characters (NUL above all).
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


class ListingIn(BaseModel):
    subject_kind: SubjectKind
    subject_id: str = Field(
        min_length=1, max_length=64, pattern=PRINTABLE, description="plate, ID number or carrier id"
    )
    reason: str = Field(
        min_length=3, max_length=1000, pattern=PRINTABLE, description="why; shown at the gate and in bookings"
    )
    until: AwareDatetime = Field(description="when the listing ends (RFC 3339 with a zone)")


class RemoveIn(BaseModel):
    reason: str | None = Field(None, max_length=1000, pattern=PRINTABLE)


class AuditOut(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class ListingOut(BaseModel):
    id: str
    list: ListKind
    subject_kind: SubjectKind
    subject_id: str
    reason: str
    until: datetime
    created_by: str
    created_at: datetime
    removed_by: str | None
    removed_at: datetime | None
    remove_reason: str | None
    state: Literal["active", "expired", "removed", "scheduled"]
    audit: builtins.list[AuditOut]


def _out(item: Listing, audit: list[dict[str, Any]], now: datetime) -> ListingOut:
    return ListingOut(**item.model_dump(), state=item.state(now), audit=[AuditOut(**a) for a in audit])


def _router(list_kind: ListKind, path: str, what: str) -> APIRouter:
    router = APIRouter(prefix=f"/api/v1/{path}", tags=["blacklist"])

    @router.get("", response_model=list[ListingOut], name=f"list_{path}")
    async def list_entries(
        conn: Conn,
        _p: Officer,
        include_ended: Annotated[bool, Query(description="also removed and expired entries")] = False,
        subject_kind: SubjectKind | None = None,
        subject_id: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
    ) -> list[ListingOut]:
        now = datetime.now(UTC)
        subject = None
        if subject_kind is not None or subject_id is not None:
            if subject_kind is None or subject_id is None:
                raise ApiError(422, "invalid_request", "give both subject_kind and subject_id, or neither")
            try:
                subject = blacklist.canonical_subject(subject_kind, subject_id)
            except ValueError as exc:
                raise ApiError(422, "invalid_subject", str(exc)) from exc
        async with write_transaction(conn):
            await blacklist.record_expiries(conn, now)
        items = await blacklist.list_listings(conn, list_kind, include_ended=include_ended, subject=subject, at=now)
        audit = await blacklist.audit_of(conn, [i.id for i in items])
        return [_out(i, audit[i.id], now) for i in items]

    @router.post("", response_model=ListingOut, status_code=201, name=f"add_{path}")
    async def add_entry(body: ListingIn, conn: Conn, principal: Officer) -> ListingOut:
        """Put a subject on the list until a time, with a reason (the audit names who)."""
        now = datetime.now(UTC)
        try:
            subject = blacklist.canonical_subject(body.subject_kind, body.subject_id)
        except ValueError as exc:
            raise ApiError(422, "invalid_subject", str(exc)) from exc
        try:
            async with write_transaction(conn):
                item = await blacklist.add_listing(
                    conn, list_kind, subject, body.reason.strip(), body.until, principal.name, now
                )
        except ListingError as exc:
            raise ApiError(422, "invalid_until", f"{exc.message}; {exc.hint}") from exc
        audit = await blacklist.audit_of(conn, [item.id])
        return _out(item, audit[item.id], now)

    @router.delete("/{listing_id}", response_model=ListingOut, name=f"remove_{path}")
    async def remove_entry(
        listing_id: UUID, conn: Conn, principal: Officer, body: RemoveIn | None = None
    ) -> ListingOut:
        """Take a subject off before its time; an entry already ended is returned unchanged."""
        now = datetime.now(UTC)
        async with write_transaction(conn):
            item = await blacklist.remove_listing(
                conn, str(listing_id), list_kind, principal.name, body.reason if body else None, now
            )
        if item is None:
            raise ApiError(404, "not_found", f"no {what} entry {listing_id}")
        audit = await blacklist.audit_of(conn, [item.id])
        return _out(item, audit[item.id], now)

    return router


blacklist_router = _router("black", "blacklist", "blacklist")
watchlist_router = _router("watch", "watchlist", "watch list")
