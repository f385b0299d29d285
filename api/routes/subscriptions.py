"""Subscriptions to alert notifications: webhook, MQTT topic, e-mail, live stream.

A subscriber sees and deletes only its own; officers and admins see all. The webhook secret is
stored (it signs every request) and never returned. ``tier`` (officers and admins only): 0 is the
default route; n >= 1 receives the n-th escalation (``alerts.escalation_after_s``) of the alerts
its filters accept.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Request
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field, TypeAdapter

from alerts.errors import UnsafeUrlError
from alerts.models import (
    EmailSubscription,
    MqttSubscription,
    Severity,
    StreamSubscription,
    WebhookSubscription,
)
from alerts.urlcheck import UrlPolicy, check_webhook_url
from api.deps import ApiError, Conn
from api.routes.alert_common import Deleted, Subscriber, is_staff, unprocessable, write_transaction
from devices.types import DeviceType
from hazgate.settings import Settings

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])

Tier = Annotated[int, Field(ge=0, description="0: default route; n: escalation tier n (officers, admins)")]


class WebhookSubscriptionIn(WebhookSubscription):
    tier: Tier = 0


class MqttSubscriptionIn(MqttSubscription):
    tier: Tier = 0


class EmailSubscriptionIn(EmailSubscription):
    tier: Tier = 0


class StreamSubscriptionIn(StreamSubscription):
    tier: Tier = 0


SubscriptionIn = Annotated[
    WebhookSubscriptionIn | MqttSubscriptionIn | EmailSubscriptionIn | StreamSubscriptionIn,
    Field(discriminator="channel"),
]


class _Out(BaseModel):
    id: str
    owner: str
    tier: int
    min_severity: Severity
    site: str | None = None
    device_type: DeviceType | None = None
    created_at: datetime


class WebhookSubscriptionOut(_Out):
    channel: Literal["webhook"]
    url: str


class MqttSubscriptionOut(_Out):
    channel: Literal["mqtt"]
    topic: str
    qos: int


class EmailSubscriptionOut(_Out):
    channel: Literal["email"]
    to: str


class StreamSubscriptionOut(_Out):
    channel: Literal["stream"]
    label: str | None = None


SubscriptionOut = Annotated[
    WebhookSubscriptionOut | MqttSubscriptionOut | EmailSubscriptionOut | StreamSubscriptionOut,
    Field(discriminator="channel"),
]
SUBSCRIPTION_OUT: TypeAdapter[SubscriptionOut] = TypeAdapter(SubscriptionOut)

_SELECT = (
    "SELECT s.id::text, u.name, s.tier, s.body, s.created_at FROM alert_subscriptions s"
    " JOIN users u ON u.id = s.owner_id WHERE s.deleted_at IS NULL"
)


def _out(row: tuple[Any, ...]) -> SubscriptionOut:
    sub_id, owner, tier, body, created_at = row
    return SUBSCRIPTION_OUT.validate_python(
        {**body, "id": sub_id, "owner": owner, "tier": tier, "created_at": created_at}
    )


@router.get("", response_model=list[SubscriptionOut])
async def list_subscriptions(conn: Conn, principal: Subscriber) -> list[SubscriptionOut]:
    mine = None if is_staff(principal) else principal.user_id
    cur = await conn.execute(
        f"{_SELECT} AND (%(owner)s::bigint IS NULL OR s.owner_id = %(owner)s) ORDER BY s.created_at",
        {"owner": mine},
    )
    return [_out(r) for r in await cur.fetchall()]


@router.post("", response_model=SubscriptionOut, status_code=201)
async def create_subscription(
    sub: Annotated[SubscriptionIn, Body()], request: Request, conn: Conn, principal: Subscriber
) -> SubscriptionOut:
    settings: Settings = request.app.state.settings
    tiers = len(settings.alerts.escalation_after_s)
    if sub.tier and not is_staff(principal):
        raise ApiError(403, "forbidden", "only officers and admins route escalations (tier)")
    if sub.tier > tiers:
        raise ApiError(422, "invalid_subscription", f"tier: {sub.tier} exceeds the {tiers} escalation tiers configured")
    secret = None
    if isinstance(sub, WebhookSubscription):
        # The body was checked against the default policy; this deployment's may be stricter.
        policy = UrlPolicy(settings.alerts.allow_loopback_webhooks, settings.alerts.allow_private_webhooks)
        try:
            check_webhook_url(sub.url, policy)
        except UnsafeUrlError as exc:
            raise unprocessable("unsafe_url", exc) from exc
        secret = sub.secret.get_secret_value()
    body = sub.model_dump(mode="json", exclude={"secret", "tier"}, exclude_none=True)
    async with write_transaction(conn):
        cur = await conn.execute(
            "INSERT INTO alert_subscriptions (id, owner_id, channel, body, secret, tier)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (uuid.uuid4(), principal.user_id, sub.channel, Jsonb(body), secret, sub.tier),
        )
        created = await cur.fetchone()
        assert created is not None
        cur = await conn.execute(f"{_SELECT} AND s.id = %s", (created[0],))
        row = await cur.fetchone()
    assert row is not None
    return _out(row)


@router.delete("/{subscription_id}", response_model=Deleted)
async def delete_subscription(subscription_id: UUID, conn: Conn, principal: Subscriber) -> Deleted:
    """Undelivered notifications to it are abandoned (``gave_up_at``)."""
    mine = None if is_staff(principal) else principal.user_id
    async with write_transaction(conn):
        cur = await conn.execute(
            "UPDATE alert_subscriptions SET deleted_at = now()"
            " WHERE id = %(id)s AND deleted_at IS NULL AND (%(owner)s::bigint IS NULL OR owner_id = %(owner)s)"
            " RETURNING id::text, deleted_at",
            {"id": subscription_id, "owner": mine},
        )
        row = await cur.fetchone()
    if row is None:
        # Someone else's subscription is as absent to a subscriber as one that never existed.
        raise ApiError(404, "not_found", f"no subscription {subscription_id} of yours")
    return Deleted(id=row[0], deleted_at=row[1])
