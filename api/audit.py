"""The record of every change a person makes (person_audit): who, what, when, and the answer.

:class:`AuditMiddleware` writes one row for each state-changing ``/api/`` request made by an
authenticated caller, before the response leaves, so what a client was told is on record.
Routes that record richer rows themselves (login, users) mark the request as audited.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Final

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Principal

logger = logging.getLogger(__name__)

# The part of a request body kept as detail; bodies are small JSON, photos never go through here.
MAX_DETAIL_BYTES: Final = 4096
SECRET_KEYS: Final = re.compile(r"password|secret|token|api_key", re.IGNORECASE)
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
INSERT: Final = (
    "INSERT INTO person_audit (user_id, actor, role, via, action, object, status, ip, detail)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def redact(value: Any) -> Any:
    """Secrets masked; NUL characters dropped (PostgreSQL text and jsonb cannot hold them)."""
    if isinstance(value, dict):
        return {redact(str(k)): "***" if SECRET_KEYS.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return value.replace("\x00", "")
    return value


def body_detail(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if len(body) >= MAX_DETAIL_BYTES:
        return {"body_bytes": len(body)}
    try:
        return {"body": redact(json.loads(body))}
    except ValueError:
        return {"body_bytes": len(body)}


def _params(
    principal: Principal | None,
    actor: str,
    action: str,
    obj: str | None,
    status: int | None,
    ip: str | None,
    detail: dict[str, Any],
    via: str | None,
) -> tuple[Any, ...]:
    return (
        principal.user_id if principal else None,
        principal.name if principal else redact(actor),
        principal.role.value if principal else None,
        via or (principal.via if principal else "anonymous"),
        redact(action),
        redact(obj),
        status,
        ip,
        json.dumps(redact(detail), ensure_ascii=False, default=str),
    )


async def record(
    conn: AsyncConnection,
    principal: Principal | None,
    action: str,
    *,
    actor: str = "",
    obj: str | None = None,
    status: int | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
    via: str | None = None,
) -> None:
    await conn.execute(INSERT, _params(principal, actor, action, obj, status, ip, detail or {}, via))


def record_sync(conn: psycopg.Connection, actor: str, via: str, action: str, obj: str, detail: dict[str, Any]) -> None:
    """For the CLI: no principal, the operating-system user is the actor."""
    conn.execute(INSERT, _params(None, actor, action, obj, None, None, detail, via))


class AuditMiddleware:
    """Pure ASGI (no buffering of responses; streams pass straight through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        body = bytearray()

        async def keep_body() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) <= MAX_DETAIL_BYTES:
                body.extend(message.get("body", b""))
            return message

        async def audit_then_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._audit(scope, int(message["status"]), bytes(body))
            await send(message)

        await self.app(scope, keep_body, audit_then_send)

    async def _audit(self, scope: Scope, status: int, body: bytes) -> None:
        state = scope.get("state") or {}
        principal: Principal | None = state.get("principal")
        if principal is None or state.get("audited"):
            return  # nobody authenticated (refused before it could change anything), or done by the route
        route = scope.get("route")
        template = getattr(route, "path", scope["path"])
        client = scope.get("client")
        pool: AsyncConnectionPool = scope["app"].state.pool
        detail = body_detail(body)
        if scope.get("path_params"):
            detail["path_params"] = scope["path_params"]
        try:
            async with pool.connection(timeout=5) as conn:
                await record(
                    conn,
                    principal,
                    f"{scope['method']} {template}",
                    obj=scope["path"],
                    status=status,
                    ip=client[0] if client else None,
                    detail=detail,
                )
        except (psycopg.Error, TimeoutError) as exc:
            # The change itself is committed; say loudly that its record is missing.
            logger.error("AUDIT RECORD LOST: %s %s by %s (%s)", scope["method"], scope["path"], principal.name, exc)
