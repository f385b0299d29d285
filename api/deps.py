"""Request dependencies: the database pool, the caller, role checks, one error shape.

A caller is a user with an API key (``Authorization: Bearer``) or a person logged in with a
browser session cookie. Cookie-authenticated requests that change something must also carry
the session's CSRF token in ``X-CSRF-Token`` and come from our own origin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api.auth import Principal, Role, principal_for_key
from api.auth_settings import AuthSettings
from api.sessions import CSRF_HEADER, SESSION_COOKIE, Session, csrf_ok, session_for_token

bearer = HTTPBearer(auto_error=False, description="API key from `hazgate users add`")
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="browser session from POST /api/v1/auth/login; state-changing requests also send X-CSRF-Token",
)
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiError(HTTPException):
    """Every error leaves the API as {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail={"code": code, "message": message}, headers=headers)


def get_pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


async def get_conn(pool: Annotated[AsyncConnectionPool, Depends(get_pool)]) -> AsyncIterator[AsyncConnection]:
    async with pool.connection() as conn:
        yield conn


# scope="function": the connection's transaction commits (or rolls back) when the route
# function returns, before the response is sent. With FastAPI's default the commit would run
# after the response: a client could be told "done" for a write that then fails to commit, and
# a read right after a write could miss it.
Conn = Annotated[AsyncConnection, Depends(get_conn, scope="function")]


def auth_settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.settings.api.auth
    return settings


async def current_principal(
    conn: Conn, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The caller by API key only (streams and scripts)."""
    if credentials is None:
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <api_key>")
    principal = await principal_for_key(conn, credentials.credentials)
    if principal is None:
        raise ApiError(401, "invalid_api_key", "the API key is unknown, disabled or expired")
    return principal


def same_origin(request: Request) -> bool:
    """A browser names the page's origin on cross-site requests; it must be ours."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True  # not a browser, or a same-origin request that did not say (the CSRF token still counts)
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def session_of(request: Request, conn: AsyncConnection, token: str) -> Session:
    session = await session_for_token(conn, token, auth_settings(request))
    if session is None:
        raise ApiError(401, "session_expired", "the session ended; log in again")
    if request.method not in SAFE_METHODS:
        if not same_origin(request):
            raise ApiError(403, "cross_origin", "state-changing requests must come from the hazgate pages")
        if not csrf_ok(session, request.headers.get(CSRF_HEADER)):
            raise ApiError(403, "csrf_failed", f"send the session's CSRF token in {CSRF_HEADER}")
    return session


async def identify(
    request: Request, conn: AsyncConnection, credentials: HTTPAuthorizationCredentials | None, cookie: str | None
) -> Principal:
    """The caller by API key, else by session cookie; remembered on the request for the audit."""
    if credentials is not None:
        principal = await current_principal(conn, credentials)
    elif cookie:
        principal = (await session_of(request, conn, cookie)).principal
    else:
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <api_key>, or log in")
    request.state.principal = principal
    return principal


async def authenticate(
    request: Request,
    conn: Conn,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    cookie: Annotated[str | None, Depends(session_cookie)],
) -> Principal:
    return await identify(request, conn, credentials, cookie)


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise ApiError(403, "forbidden", f"role {principal.role.value} may not do this (allowed: {allowed})")
        return principal

    return check
