"""The documented shape of GET /healthz."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class DatabaseHealth(BaseModel):
    up: bool
    timescaledb: str | None = None
    edition: str | None = None
    error: str | None = None


class BrokerHealth(BaseModel):
    url: str | None
    up: bool
    error: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: DatabaseHealth
    mqtt: BrokerHealth


HEALTH_RESPONSES: dict[int | str, dict[str, object]] = {
    503: {"model": HealthOut, "description": "degraded: the database or the broker is down"}
}
