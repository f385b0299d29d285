"""Browser login for people: a session cookie (HttpOnly, SameSite=Strict) and a CSRF token."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from api.audit import record
from api.auth import Principal, Role
from api.deps import ApiError, Conn, auth_settings, authenticate, same_origin, session_cookie
from api.openapi import errors
from api.passwords import (
    MAX_PASSWORD_LEN,
    PasswordPolicyError,
    check_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from api.ratelimit import limits
from api.sessions import SESSION_COOKIE, create_session, end_session, end_user_sessions, session_for_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
Caller = Annotated[Principal, Depends(authenticate)]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LEN)


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LEN)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LEN)


class UserOut(BaseModel):
    id: int
    name: str
    role: Role
    site: str | None
    gate_id: str | None


class MeOut(BaseModel):
    user: UserOut
    via: str = Field(description="api_key or session")
    csrf_token: str | None = Field(description="send as X-CSRF-Token on state-changing requests (sessions only)")
    expires_at: datetime | None = Field(description="when the session ends at the latest (sessions only)")


class LoggedOut(BaseModel):
    logged_out: bool


def _user(p: Principal) -> UserOut:
    return UserOut(id=p.user_id, name=p.name, role=p.role, site=p.site, gate_id=p.gate_id)


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(wait: int) -> ApiError:
    return ApiError(429, "rate_limited", f"too many login attempts; try again in {wait} s", {"Retry-After": str(wait)})


@router.post("/login", response_model=MeOut, responses=errors(401, 403, 429))
async def login(body: LoginIn, conn: Conn, request: Request, response: Response) -> MeOut:
    """Log a person in with user name and password; sets the session cookie."""
    if not same_origin(request):
        raise ApiError(403, "cross_origin", "log in from the hazgate pages")
    limiter = limits(request.app)
    user_key = body.username.strip().lower()
    wait = limiter.login_ip.hit(_ip(request)) or limiter.login_user.retry_after(user_key)
    if wait is not None:
        raise _too_many(wait)
    cur = await conn.execute(
        "SELECT id, name, role, site, gate_id, password_hash FROM users"
        " WHERE name = %s AND enabled AND (expires_at IS NULL OR expires_at > now())",
        (body.username.strip(),),
    )
    row = await cur.fetchone()
    stored = row[5] if row else None
    if not await asyncio.to_thread(verify_password, body.password, stored) or row is None:
        limiter.login_user.hit(user_key)
        await record(
            conn, None, "login_failed", actor=body.username[:200], ip=_ip(request), status=401, via="anonymous"
        )
        await conn.commit()
        raise ApiError(401, "invalid_credentials", "user name or password is wrong")
    limiter.login_user.reset(user_key)
    principal = Principal(row[0], row[1], Role(row[2]), row[3], row[4], via="session")
    if stored and needs_rehash(stored):
        new_hash = await asyncio.to_thread(hash_password, body.password)
        await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (new_hash, principal.user_id))
    settings = auth_settings(request)
    await conn.execute("DELETE FROM user_sessions WHERE expires_at < now()")
    token, session = await create_session(conn, principal, settings, _ip(request), request.headers.get("user-agent"))
    await record(conn, principal, "login", obj=f"user:{principal.user_id}", ip=_ip(request), status=200)
    await conn.commit()
    request.state.audited = True
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int((session.expires_at - datetime.now(session.expires_at.tzinfo)).total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )
    return MeOut(user=_user(principal), via="session", csrf_token=session.csrf_token, expires_at=session.expires_at)


@router.post("/logout", response_model=LoggedOut, responses=errors(401, 403))
async def logout(
    caller: Caller,
    conn: Conn,
    request: Request,
    response: Response,
    cookie: Annotated[str | None, Depends(session_cookie)],
) -> LoggedOut:
    """End this browser session (API keys are not sessions: nothing to end)."""
    if caller.via == "session" and cookie:
        await end_session(conn, cookie)
        await record(conn, caller, "logout", obj=f"user:{caller.user_id}", ip=_ip(request), status=200)
        await conn.commit()
        request.state.audited = True
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return LoggedOut(logged_out=caller.via == "session")


@router.get("/me", response_model=MeOut)
async def me(
    caller: Caller, conn: Conn, request: Request, cookie: Annotated[str | None, Depends(session_cookie)]
) -> MeOut:
    """Who the caller is; for a session also its CSRF token (pages read it here)."""
    if caller.via == "session" and cookie:
        session = await session_for_token(conn, cookie, auth_settings(request))
        if session is not None:
            return MeOut(
                user=_user(caller), via="session", csrf_token=session.csrf_token, expires_at=session.expires_at
            )
    return MeOut(user=_user(caller), via=caller.via, csrf_token=None, expires_at=None)


@router.post("/password", response_model=LoggedOut, responses=errors(401, 403, 422, 429))
async def change_password(
    body: PasswordIn, caller: Caller, conn: Conn, request: Request, response: Response
) -> LoggedOut:
    """Change one's own password; every session of the user ends (log in again)."""
    limiter = limits(request.app)
    key = caller.name.lower()
    wait = limiter.login_user.retry_after(key)
    if wait is not None:
        raise _too_many(wait)
    cur = await conn.execute("SELECT password_hash FROM users WHERE id = %s", (caller.user_id,))
    row = await cur.fetchone()
    if not await asyncio.to_thread(verify_password, body.current_password, row[0] if row else None):
        limiter.login_user.hit(key)
        raise ApiError(401, "invalid_credentials", "the current password is wrong")
    try:
        check_policy(body.new_password)
    except PasswordPolicyError as exc:
        raise ApiError(422, "weak_password", str(exc)) from None
    new_hash = await asyncio.to_thread(hash_password, body.new_password)
    await conn.execute(
        "UPDATE users SET password_hash = %s, password_changed_at = now() WHERE id = %s", (new_hash, caller.user_id)
    )
    await end_user_sessions(conn, caller.user_id)
    await record(conn, caller, "password_changed", obj=f"user:{caller.user_id}", ip=_ip(request), status=200)
    await conn.commit()
    request.state.audited = True
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return LoggedOut(logged_out=True)
