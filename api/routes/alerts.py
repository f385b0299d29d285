"""Alerts: list, read, acknowledge, resolve; and the live stream of alert changes (SSE).

Officers act here; the alert service (another thread or process) is told by NOTIFY and queues
what becomes due (the resolved notification, no further escalation) at its next tick, which the
notice brings forward to at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from alerts.errors import AlertStateError
from alerts.lifecycle import Alert, acknowledge, resolve
from alerts.models import Severity, StreamSubscription, parse_subscription
from alerts.payload import alert_body
from alerts.store import ALERTS_CHANNEL, STREAM_CHANNEL, UPSERT_ALERT, alert_from_doc, alert_params, stream_payload
from api.auth import Principal, Role
from api.deps import ApiError, Conn, bearer, current_principal, get_pool
from api.routes.alert_common import Officer, is_staff, write_transaction
from api.stream import Broadcaster, StreamEvent
from devices.types import DeviceType

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

# A comment line this often keeps proxies and browsers from closing an idle stream.
HEARTBEAT_S: Final = 15.0


class HistoryOut(BaseModel):
    at: str
    who: str
    what: str
    note: str | None


class NotificationOut(BaseModel):
    kind: str
    tier: int
    sequence: int
    delivery_key: str


class AlertOut(BaseModel):
    """The alert body of CONTRACT.md (what webhooks receive), with its history when asked for one."""

    alert_id: str
    rule_id: str
    rule: str
    rule_kind: str
    state: Literal["firing", "acknowledged", "resolved"]
    severity: Severity
    site: str | None
    device_id: str | None
    device_type: str | None
    plate: str | None = Field(None, description="the vehicle's plate, where the alert concerns a vehicle")
    zone_id: str | None = Field(None, description="the park layout zone of a position alert")
    metric: str | None
    value: float | None
    started_at: str
    updated_at: str
    count: int
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    resolve_reason: str | None
    subject: str
    fingerprint: str
    summary: str
    details: dict[str, Any]
    notification: NotificationOut | None
    history: list[HistoryOut] | None = None


class ActionIn(BaseModel):
    note: str | None = Field(None, max_length=2000)


@router.get("", response_model=list[AlertOut], response_model_exclude_none=False)
async def list_alerts(
    conn: Conn,
    _p: Officer,
    state: Annotated[
        Literal["firing", "acknowledged", "resolved", "open"] | None,
        Query(description="open = firing or acknowledged"),
    ] = None,
    site: str | None = None,
    device_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, object]]:
    cur = await conn.execute(
        "SELECT doc FROM alerts WHERE (%(state)s::text IS NULL OR state = %(state)s"
        "  OR (%(state)s = 'open' AND state <> 'resolved'))"
        " AND (%(site)s::text IS NULL OR site = %(site)s) AND (%(device)s::text IS NULL OR device_id = %(device)s)"
        " ORDER BY updated_at DESC LIMIT %(limit)s",
        {"state": state, "site": site, "device": device_id, "limit": limit},
    )
    return [alert_body(alert_from_doc(r[0])) for r in await cur.fetchall()]


@router.get("/stream", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def alert_stream(
    request: Request,
    pool: Annotated[AsyncConnectionPool, Depends(get_pool)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    site: str | None = None,
    min_severity: Severity = Severity.INFO,
    device_type: DeviceType | None = None,
    subscription_id: Annotated[UUID | None, Query(description="use a stream subscription's filters")] = None,
) -> StreamingResponse:
    """Server-sent events: ``ready`` once, then ``alert`` with the alert body on every change
    (fired, updated, acknowledged, resolved). ``lagged`` ends a stream that fell too far behind.
    Officers and admins filter by query; subscribers name one of their stream subscriptions."""
    # Not the Conn dependency: that would hold a pooled connection for as long as the stream
    # lasts (hours). Authenticate on a connection borrowed for a moment instead.
    async with pool.connection() as conn:
        principal = await current_principal(conn, credentials)
        if not (is_staff(principal) or principal.role is Role.SUBSCRIBER):
            raise ApiError(403, "forbidden", f"role {principal.role.value} may not stream alerts")
        if subscription_id is not None:
            filters = await _stream_subscription(conn, principal, subscription_id)
        elif is_staff(principal):
            filters = StreamSubscription(site=site, min_severity=min_severity, device_type=device_type)
        else:
            raise ApiError(403, "forbidden", "subscribers stream through a stream subscription: ?subscription_id=")
    broadcaster: Broadcaster = request.app.state.broadcaster
    return StreamingResponse(
        _events(broadcaster, filters),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream_subscription(conn: AsyncConnection, principal: Principal, sub_id: UUID) -> StreamSubscription:
    cur = await conn.execute(
        "SELECT owner_id, body FROM alert_subscriptions WHERE id = %s AND deleted_at IS NULL AND channel = 'stream'",
        (sub_id,),
    )
    row = await cur.fetchone()
    if row is None or (not is_staff(principal) and row[0] != principal.user_id):
        raise ApiError(404, "not_found", f"no stream subscription {sub_id} of yours")
    sub = parse_subscription(row[1])
    assert isinstance(sub, StreamSubscription)
    return sub


async def _events(broadcaster: Broadcaster, filters: StreamSubscription) -> AsyncIterator[bytes]:
    async with broadcaster.subscribe({"alerts"}) as client:
        yield StreamEvent("alerts", "ready", {}).encode()
        while True:
            try:
                event = await asyncio.wait_for(client.queue.get(), HEARTBEAT_S)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if event is None:
                return
            if event.event == "lagged":
                yield event.encode()
                return
            if _passes(filters, event.data):
                yield event.encode()


def _passes(filters: StreamSubscription, data: dict[str, Any]) -> bool:
    try:
        severity = Severity(str(data.get("severity")))
    except ValueError:
        return False
    return filters.accepts(severity, data.get("site"), data.get("device_type"))


@router.get("/{alert_id}", response_model=AlertOut)
async def get_alert(alert_id: UUID, conn: Conn, _p: Officer) -> dict[str, object]:
    cur = await conn.execute("SELECT doc FROM alerts WHERE id = %s", (alert_id,))
    row = await cur.fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"no alert {alert_id}")
    return alert_body(alert_from_doc(row[0]), with_history=True)


@router.post("/{alert_id}/ack", response_model=AlertOut)
async def ack_alert(alert_id: UUID, conn: Conn, principal: Officer, body: ActionIn | None = None) -> dict[str, object]:
    """Take the alert: escalation and repeats stop. Acknowledging twice changes nothing."""
    note = body.note if body else None
    return await _act(conn, alert_id, lambda a, at: acknowledge(a, principal.name, at, note))


@router.post("/{alert_id}/resolve", response_model=AlertOut)
async def resolve_alert(
    alert_id: UUID, conn: Conn, principal: Officer, body: ActionIn | None = None
) -> dict[str, object]:
    """Close the alert by hand; subscribers told of its firing are told it is resolved."""
    note = body.note if body else None
    return await _act(conn, alert_id, lambda a, at: resolve(a, principal.name, at, note))


async def _act(conn: Conn, alert_id: UUID, change: Callable[[Alert, datetime], Alert]) -> dict[str, object]:
    async with write_transaction(conn):
        cur = await conn.execute("SELECT doc FROM alerts WHERE id = %s FOR UPDATE", (alert_id,))
        row = await cur.fetchone()
        if row is None:
            raise ApiError(404, "not_found", f"no alert {alert_id}")
        alert = alert_from_doc(row[0])
        try:
            after = change(alert, datetime.now(UTC))
        except AlertStateError as exc:
            raise ApiError(409, "alert_state", str(exc)) from exc
        if after is not alert:
            await conn.execute(UPSERT_ALERT, alert_params(after))
            await conn.execute("SELECT pg_notify(%s, %s)", (STREAM_CHANNEL, stream_payload(after)))
            await conn.execute("SELECT pg_notify(%s, 'alert')", (ALERTS_CHANNEL,))
    return alert_body(after, with_history=True)
