"""Request dependencies: the database pool, the caller, role checks, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api.auth import Principal, Role, principal_for_key

bearer = HTTPBearer(auto_error=False, description="API key from `hazgate users add`")


class ApiError(HTTPException):
    """Every error leaves the API as {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, detail={"code": code, "message": message})


def get_pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


async def get_conn(pool: Annotated[AsyncConnectionPool, Depends(get_pool)]) -> AsyncIterator[AsyncConnection]:
    async with pool.connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(get_conn)]


async def current_principal(
    conn: Conn, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None:
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <api_key>")
    principal = await principal_for_key(conn, credentials.credentials)
    if principal is None:
        raise ApiError(401, "invalid_api_key", "the API key is unknown, disabled or expired")
    return principal


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise ApiError(403, "forbidden", f"role {principal.role.value} may not do this (allowed: {allowed})")
        return principal

    return check
