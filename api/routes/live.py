"""GET /api/v1/stream: the pages' live feed (server-sent events), by topic, scoped by role.

Officers and admins may take every topic; a kiosk only ``inspections`` of its own gate;
subscribers stream alerts through their stream subscriptions (/api/v1/alerts/stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from psycopg_pool import AsyncConnectionPool

from api.auth import Principal, Role
from api.deps import ApiError, bearer, get_pool, identify, session_cookie
from api.live import LiveBridge
from api.live_feed import TOPICS
from api.openapi import errors
from api.stream import Broadcaster, StreamEvent

router = APIRouter(prefix="/api/v1", tags=["stream"])

# A comment line this often keeps proxies and browsers from closing an idle stream.
HEARTBEAT_S: Final = 15.0
# The caller's key or session is checked again this often: a disabled user or an ended
# session stops receiving within this time.
REAUTH_S: Final = 300.0
# EventSource waits this long before reconnecting after the stream ends.
RETRY_MS: Final = 3000


def allowed_topics(principal: Principal, wanted: set[str]) -> set[str]:
    if principal.role in (Role.ADMIN, Role.OFFICER):
        return wanted
    if principal.role is Role.KIOSK and wanted <= {"inspections"}:
        return wanted
    raise ApiError(403, "forbidden", f"role {principal.role.value} may not stream {', '.join(sorted(wanted))}")


def visible(principal: Principal, event: StreamEvent, site: str | None, gate: str | None) -> bool:
    data = event.data
    if principal.role is Role.KIOSK:
        return event.topic == "inspections" and (data.get("site"), data.get("gate_id")) == (
            principal.site,
            principal.gate_id,
        )
    if site is not None and data.get("site") != site:
        return False
    return gate is None or event.topic != "inspections" or data.get("gate_id") == gate


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}, **errors(401, 403)},
)
async def stream(
    request: Request,
    pool: Annotated[AsyncConnectionPool, Depends(get_pool)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    cookie: Annotated[str | None, Depends(session_cookie)],
    topics: Annotated[str, Query(description=f"comma-separated: {', '.join(TOPICS)}")] = "inspections",
    site: str | None = None,
    gate: str | None = None,
) -> StreamingResponse:
    """Server-sent events: ``ready`` once, then ``inspection``, ``device``, ``telemetry`` and
    ``alert`` events of the chosen topics; ``lagged`` or ``reauth`` end a stream (reconnect,
    then re-read the current state from the REST API)."""
    wanted = {t.strip() for t in topics.split(",") if t.strip()}
    unknown = wanted - set(TOPICS)
    if unknown or not wanted:
        raise ApiError(422, "unknown_topic", f"topics are some of: {', '.join(TOPICS)}")
    # A connection borrowed for a moment: the stream may last hours and must not hold one.
    async with pool.connection() as conn:
        principal = await identify(request, conn, credentials, cookie)
    allowed = allowed_topics(principal, wanted)
    broadcaster: Broadcaster = request.app.state.broadcaster
    bridge: LiveBridge = request.app.state.live
    feed = _events(request, pool, broadcaster, bridge, principal, allowed, site, gate, (credentials, cookie))
    return StreamingResponse(
        feed, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


async def _still_allowed(
    request: Request, pool: AsyncConnectionPool, creds: tuple[HTTPAuthorizationCredentials | None, str | None]
) -> bool:
    try:
        async with pool.connection() as conn:
            await identify(request, conn, *creds)
    except ApiError:
        return False
    return True


async def _events(
    request: Request,
    pool: AsyncConnectionPool,
    broadcaster: Broadcaster,
    bridge: LiveBridge,
    principal: Principal,
    topics: set[str],
    site: str | None,
    gate: str | None,
    creds: tuple[HTTPAuthorizationCredentials | None, str | None],
) -> AsyncIterator[bytes]:
    authed_at = time.monotonic()
    with bridge.watching_telemetry() if "telemetry" in topics else contextlib.nullcontext():
        async with broadcaster.subscribe(topics) as client:
            yield f"retry: {RETRY_MS}\n".encode() + StreamEvent("stream", "ready", {"topics": sorted(topics)}).encode()
            while True:
                try:
                    event = await asyncio.wait_for(client.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    event = StreamEvent("stream", "keepalive", {})
                if event is None:
                    return
                if time.monotonic() - authed_at > REAUTH_S:
                    if not await _still_allowed(request, pool, creds):
                        yield StreamEvent("stream", "reauth", {"reason": "the key or session ended"}).encode()
                        return
                    authed_at = time.monotonic()
                if event.event == "keepalive":
                    yield b": keepalive\n\n"
                elif event.event == "lagged":
                    yield event.encode()
                    return
                elif visible(principal, event, site, gate):
                    yield event.encode()
