"""User administration (admins): people and systems with API keys, passwords and roles; the audit."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from api.audit import record
from api.auth import Principal, Role, UserError, UserExists, add_user_async, hash_key, new_api_key
from api.deps import ApiError, Conn, require
from api.openapi import errors
from api.passwords import MAX_PASSWORD_LEN, PasswordPolicyError, check_policy, hash_password
from api.sessions import end_user_sessions

router = APIRouter(prefix="/api/v1", tags=["users"])
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
NAME_PATTERN = r"^[\w.@-]{1,64}$"

USER_COLUMNS = (
    "id, name, role, site, gate_id, enabled, created_at, created_by, expires_at,"
    " password_hash IS NOT NULL AS can_log_in, password_changed_at"
)


class UserIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="log-in name; letters, digits, . _ @ -")
    role: Role
    site: str | None = Field(None, max_length=64, description="kiosk: the site of its gate")
    gate_id: str | None = Field(None, max_length=64, description="kiosk: its gate")
    password: str | None = Field(None, max_length=MAX_PASSWORD_LEN, description="lets the user log in to the pages")
    expires_at: AwareDatetime | None = None


class UserPatch(BaseModel):
    enabled: bool | None = None
    password: str | None = Field(None, max_length=MAX_PASSWORD_LEN)
    expires_at: AwareDatetime | None = None
    rotate_api_key: bool = Field(False, description="issue a new API key; the old one stops working")


class UserAdminOut(BaseModel):
    id: int
    name: str
    role: Role
    site: str | None
    gate_id: str | None
    enabled: bool
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    can_log_in: bool
    password_changed_at: datetime | None
    api_key: str | None = Field(None, description="only when created or rotated; shown once")


class AuditOut(BaseModel):
    id: int
    at: datetime
    user_id: int | None
    actor: str
    role: str | None
    via: str
    action: str
    object: str | None
    status: int | None
    ip: str | None
    detail: dict[str, Any]


async def _user(conn: Conn, user_id: int) -> dict[str, Any]:
    cur = await conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))  # noqa: S608
    row = await cur.fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"no user {user_id}")
    return dict(zip([c.name for c in cur.description or []], row, strict=True))


@router.get("/users", response_model=list[UserAdminOut])
async def list_users(conn: Conn, _a: Admin) -> list[dict[str, Any]]:
    cur = await conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY id")  # noqa: S608
    cols = [c.name for c in cur.description or []]
    return [dict(zip(cols, r, strict=True)) for r in await cur.fetchall()]


@router.post("/users", response_model=UserAdminOut, status_code=201, responses=errors(409, 422))
async def create_user(body: UserIn, conn: Conn, admin: Admin, request: Request) -> dict[str, Any]:
    """A new user; its API key is in this answer only."""
    try:
        created = await add_user_async(
            conn, body.name, body.role.value, body.site, body.gate_id, password=body.password, created_by=admin.name
        )
    except UserExists as exc:
        raise ApiError(409, "user_exists", exc.message) from None
    except UserError as exc:
        raise ApiError(422, "invalid_user", exc.message) from None
    user_id = int(str(created["id"]))
    if body.expires_at is not None:
        await conn.execute("UPDATE users SET expires_at = %s WHERE id = %s", (body.expires_at, user_id))
    detail = {"name": body.name, "role": body.role.value, "site": body.site, "gate_id": body.gate_id}
    await record(conn, admin, "user_created", obj=f"user:{user_id}", status=201, detail=detail, ip=_ip(request))
    await conn.commit()
    request.state.audited = True
    return {**await _user(conn, user_id), "api_key": created["api_key"]}


@router.patch("/users/{user_id}", response_model=UserAdminOut, responses=errors(409, 422))
async def update_user(user_id: int, body: UserPatch, conn: Conn, admin: Admin, request: Request) -> dict[str, Any]:
    """Enable or disable, set a password, an expiry, or a new API key. Sessions end on any of these."""
    await _user(conn, user_id)
    locks_out = body.enabled is False or "expires_at" in body.model_fields_set or body.rotate_api_key
    if user_id == admin.user_id and locks_out:
        raise ApiError(409, "self_lockout", "an admin cannot disable, expire or re-key their own account; ask another")
    changed: dict[str, Any] = {}
    if body.enabled is not None:
        await conn.execute("UPDATE users SET enabled = %s WHERE id = %s", (body.enabled, user_id))
        changed["enabled"] = body.enabled
    if body.password is not None:
        try:
            check_policy(body.password)
        except PasswordPolicyError as exc:
            raise ApiError(422, "weak_password", str(exc)) from None
        new_hash = await asyncio.to_thread(hash_password, body.password)
        await conn.execute(
            "UPDATE users SET password_hash = %s, password_changed_at = now() WHERE id = %s", (new_hash, user_id)
        )
        changed["password_set"] = True
    if "expires_at" in body.model_fields_set:
        await conn.execute("UPDATE users SET expires_at = %s WHERE id = %s", (body.expires_at, user_id))
        changed["expires_at"] = body.expires_at
    key = None
    if body.rotate_api_key:
        key = new_api_key()
        await conn.execute("UPDATE users SET api_key_hash = %s WHERE id = %s", (hash_key(key), user_id))
        changed["api_key"] = "rotated"
    if changed:
        await end_user_sessions(conn, user_id)
        await record(conn, admin, "user_changed", obj=f"user:{user_id}", status=200, detail=changed, ip=_ip(request))
    await conn.commit()
    request.state.audited = True
    return {**await _user(conn, user_id), "api_key": key}


@router.get("/audit", response_model=list[AuditOut])
async def list_audit(
    conn: Conn,
    _a: Admin,
    actor: str | None = None,
    action: str | None = None,
    since: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Who changed what, when (newest first)."""
    cur = await conn.execute(
        "SELECT id, at, user_id, actor, role, via, action, object, status, ip, detail FROM person_audit"
        " WHERE (%(actor)s::text IS NULL OR actor = %(actor)s)"
        " AND (%(action)s::text IS NULL OR action LIKE %(action)s || '%%')"
        " AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)"
        " ORDER BY id DESC LIMIT %(limit)s",
        {"actor": actor, "action": action, "since": since, "limit": limit},
    )
    cols = [c.name for c in cur.description or []]
    return [dict(zip(cols, r, strict=True)) for r in await cur.fetchall()]


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None
