"""The black list and the watch list: vehicles, people and carriers, each listed until a time.

A listed subject on the black list fails bookings and entry with reason code ``blacklisted``
(CONTRACT.md, "Blacklist"); the watch list only flags it for officers. For callers at the gate
and at booking there is a small query API:

- :func:`find_active` (sync psycopg, the gate) / :func:`find_active_async` (the API): the
  listings in force at ``at`` for some subjects;
- :func:`blacklisted` (pure): the reasons to give, one per listing, with until when and why.

Changes go through :func:`add_listing` and :func:`remove_listing`, each audited in the same
transaction; :func:`record_expiries` writes the ``expired`` audit row of listings whose time has
run out (idempotent; the API and CLI call it when they list). Table: migration 0011.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Literal

import psycopg
from psycopg import AsyncConnection
from pydantic import AwareDatetime, BaseModel, ConfigDict

from hazgate.errors import HazgateError
from registry.identifiers import normalize_id_number, normalize_plate

SubjectKind = Literal["vehicle", "person", "carrier"]
ListKind = Literal["black", "watch"]
# Messages show the park's wall-clock time (China Standard Time has no daylight saving).
_CST: Final = timezone(timedelta(hours=8))
COLUMNS: Final = (
    "id::text, list, subject_kind, subject_id, reason, until, created_by, created_at, removed_by, removed_at,"
    " remove_reason"
)
_ACTIVE: Final = (
    f"SELECT {COLUMNS} FROM subject_listings WHERE removed_at IS NULL AND created_at <= %(at)s AND until > %(at)s"  # noqa: S608
    " AND list = ANY(%(lists)s) AND (subject_kind || ':' || subject_id) = ANY(%(keys)s) ORDER BY until DESC"
)

_INSERT_COLUMNS: Final = "id, list, subject_kind, subject_id, reason, until, created_by, created_at"
_REMOVE_SET: Final = "removed_by = %s, removed_at = %s, remove_reason = %s"
_INSERT: Final = (
    f"INSERT INTO subject_listings ({_INSERT_COLUMNS}) VALUES ({', '.join(['%s'] * 8)}) RETURNING {COLUMNS}"  # noqa: S608
)
_REMOVE: Final = f"UPDATE subject_listings SET {_REMOVE_SET} WHERE id = %s RETURNING {COLUMNS}"  # noqa: S608


class ListingError(HazgateError):
    pass


class Subject(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: SubjectKind
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


class Listing(BaseModel):
    """One entry of the black or watch list."""

    model_config = ConfigDict(frozen=True)

    id: str
    list: ListKind
    subject_kind: SubjectKind
    subject_id: str
    reason: str
    until: AwareDatetime
    created_by: str
    created_at: AwareDatetime
    removed_by: str | None = None
    removed_at: AwareDatetime | None = None
    remove_reason: str | None = None

    def state(self, at: datetime) -> Literal["active", "expired", "removed", "scheduled"]:
        if self.removed_at is not None:
            return "removed"
        if self.until <= at:
            return "expired"
        return "active" if self.created_at <= at else "scheduled"


class BlacklistReason(BaseModel):
    """What the gate or a booking says about a listed subject (code ``blacklisted``)."""

    model_config = ConfigDict(frozen=True)

    code: Literal["blacklisted"] = "blacklisted"
    listing_id: str
    subject_kind: SubjectKind
    subject_id: str
    until: AwareDatetime
    message_zh: str
    message: str


def canonical_subject(kind: str, subject_id: str) -> Subject:
    """The subject with its id in canonical form (plates and ID numbers as the registry keeps them)."""
    value = subject_id.strip()
    if kind == "vehicle":
        value = normalize_plate(value)
    elif kind == "person":
        value = normalize_id_number(value)
    elif kind != "carrier":
        raise ValueError(f"subject_kind {kind!r} must be vehicle, person or carrier")
    if not value or len(value) > 64:
        raise ValueError("subject_id must be 1-64 characters")
    return Subject(kind=kind, id=value)


_KIND_ZH: Final = {"vehicle": "车辆", "person": "人员", "carrier": "承运企业"}
_KIND_EN: Final = {"vehicle": "Vehicle", "person": "Person", "carrier": "Carrier"}


def blacklisted(listings: Iterable[Listing], at: datetime) -> list[BlacklistReason]:
    """One reason per black-list entry in force at ``at`` (watch-list entries give none)."""
    out = []
    for item in listings:
        if item.list != "black" or item.state(at) != "active":
            continue
        until = item.until.astimezone(_CST).strftime("%Y-%m-%d %H:%M")
        out.append(
            BlacklistReason(
                listing_id=item.id,
                subject_kind=item.subject_kind,
                subject_id=item.subject_id,
                until=item.until,
                message_zh=f"{_KIND_ZH[item.subject_kind]}{item.subject_id}已列入园区黑名单，至{until}止，原因：{item.reason}",
                message=f"{_KIND_EN[item.subject_kind]} {item.subject_id} is on the park's blacklist until {until}: "
                f"{item.reason}",
            )
        )
    return out


def _listing(row: Sequence[Any]) -> Listing:
    return Listing(
        id=row[0],
        list=row[1],
        subject_kind=row[2],
        subject_id=row[3],
        reason=row[4],
        until=row[5],
        created_by=row[6],
        created_at=row[7],
        removed_by=row[8],
        removed_at=row[9],
        remove_reason=row[10],
    )


def _params(subjects: Iterable[Subject], at: datetime, lists: Iterable[ListKind]) -> dict[str, Any]:
    return {"at": at, "lists": list(lists), "keys": sorted({s.key for s in subjects})}


def find_active(
    conn: psycopg.Connection, subjects: Iterable[Subject], at: datetime, lists: Iterable[ListKind] = ("black",)
) -> list[Listing]:
    """The listings in force at ``at`` for any of ``subjects`` (black list only by default)."""
    params = _params(subjects, at, lists)
    if not params["keys"]:
        return []
    return [_listing(r) for r in conn.execute(_ACTIVE, params).fetchall()]


async def find_active_async(
    conn: AsyncConnection, subjects: Iterable[Subject], at: datetime, lists: Iterable[ListKind] = ("black",)
) -> list[Listing]:
    params = _params(subjects, at, lists)
    if not params["keys"]:
        return []
    cur = await conn.execute(_ACTIVE, params)
    return [_listing(r) for r in await cur.fetchall()]


# --- changes (async: the API; each in the caller's transaction) ---------------------------------


async def _audit(
    conn: AsyncConnection, listing_id: str, at: datetime, actor: str, action: str, detail: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO subject_listing_audit (listing_id, at, actor, action, detail) VALUES (%s, %s, %s, %s, %s)",
        (listing_id, at, actor, action, json.dumps(detail, ensure_ascii=False, default=str)),
    )


async def add_listing(
    conn: AsyncConnection,
    list_kind: ListKind,
    subject: Subject,
    reason: str,
    until: datetime,
    actor: str,
    now: datetime,
) -> Listing:
    if until <= now:
        raise ListingError(
            f"until {until.isoformat()} is not in the future",
            hint="give the time the listing ends, e.g. 2027-01-01T00:00:00+08:00",
        )
    listing_id = str(uuid.uuid4())
    cur = await conn.execute(
        _INSERT,
        (listing_id, list_kind, subject.kind, subject.id, reason, until, actor, now),
    )
    row = await cur.fetchone()
    assert row is not None
    await _audit(
        conn,
        listing_id,
        now,
        actor,
        "added",
        {"list": list_kind, "subject": subject.key, "reason": reason, "until": until},
    )
    return _listing(row)


async def remove_listing(
    conn: AsyncConnection, listing_id: str, list_kind: ListKind, actor: str, reason: str | None, now: datetime
) -> Listing | None:
    """Remove a listing in force; None when there is no such listing on that list. Removing a
    listing already removed or expired changes nothing and returns it as it is."""
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM subject_listings WHERE id = %s AND list = %s FOR UPDATE",  # noqa: S608
        (listing_id, list_kind),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    found = _listing(row)
    if found.state(now) in ("removed", "expired"):
        return found
    cur = await conn.execute(
        _REMOVE,
        (actor, now, reason, listing_id),
    )
    row = await cur.fetchone()
    assert row is not None
    await _audit(conn, listing_id, now, actor, "removed", {"reason": reason})
    return _listing(row)


async def record_expiries(conn: AsyncConnection, now: datetime) -> int:
    """Write the ``expired`` audit row (at the listing's ``until``) of each listing that ran out."""
    cur = await conn.execute(
        "INSERT INTO subject_listing_audit (listing_id, at, actor, action, detail)"
        " SELECT id, until, 'hazgate', 'expired', jsonb_build_object('until', until) FROM subject_listings"
        " WHERE removed_at IS NULL AND until <= %s ON CONFLICT DO NOTHING",
        (now,),
    )
    return cur.rowcount


async def list_listings(
    conn: AsyncConnection, list_kind: ListKind, *, include_ended: bool, subject: Subject | None, at: datetime
) -> list[Listing]:
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM subject_listings WHERE list = %(list)s"  # noqa: S608 - fixed column list
        " AND (%(all)s OR (removed_at IS NULL AND until > %(at)s))"
        " AND (%(kind)s::text IS NULL OR (subject_kind = %(kind)s AND subject_id = %(sid)s))"
        " ORDER BY created_at DESC LIMIT 1000",
        {
            "list": list_kind,
            "all": include_ended,
            "at": at,
            "kind": subject.kind if subject else None,
            "sid": subject.id if subject else None,
        },
    )
    return [_listing(r) for r in await cur.fetchall()]


async def audit_of(conn: AsyncConnection, listing_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in listing_ids}
    if not listing_ids:
        return out
    cur = await conn.execute(
        "SELECT listing_id::text, at, actor, action, detail FROM subject_listing_audit"
        " WHERE listing_id = ANY(%s::uuid[]) ORDER BY at, id",
        (list(listing_ids),),
    )
    for listing_id, at, actor, action, detail in await cur.fetchall():
        out[listing_id].append({"at": at, "actor": actor, "action": action, "detail": detail})
    return out
