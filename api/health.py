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


class BlockerOut(BaseModel):
    pid: int
    database: str | None
    user: str | None
    application: str | None
    state: str | None
    since: str | None
    open_s: float | None
    query: str | None


class EvaluationHealth(BaseModel):
    """Alert evaluation, seen from the database (any process reports it)."""

    evaluators: int  # live evaluator processes
    partitions: int
    unowned_partitions: int  # without a live owner: their inputs wait
    evaluated_behind_s: float | None  # the least advanced partition's saved position, seconds ago
    stream_lag_s: float  # how long the oldest open writing transaction holds the stream back
    blocker: BlockerOut | None  # that transaction, when the lag passes alerts.lag_warn_s


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: DatabaseHealth
    mqtt: BrokerHealth
    alerts: EvaluationHealth | None = None


HEALTH_RESPONSES: dict[int | str, dict[str, object]] = {
    503: {"model": HealthOut, "description": "degraded: the database or the broker is down"}
}
