"""Devices and their telemetry: raw points, or time_bucket aggregates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import Principal, Role
from api.deps import ApiError, Conn, require
from devices.types import ALL_METRICS

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
Reader = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER))]

# A chart needs a few thousand points at most; more is a query mistake that would load the
# database and the browser for nothing.
MAX_POINTS = 10_000
DEFAULT_RANGE = timedelta(hours=1)
BUCKET_RE = re.compile(r"^(\d+)\s*(s|m|h|d)$")
BUCKET_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class DeviceOut(BaseModel):
    device_id: str
    site: str
    type: str
    gate_id: str | None
    plate: str | None
    enabled: bool
    state: str = Field(description="from the status topic and last will: online, offline, unknown")
    state_changed_at: datetime | None
    last_seen_at: datetime | None
    status: str = Field(
        description="what an officer needs: offline (last will), silent (no reading for silent_after_s), "
        "online, or unknown"
    )
    battery_pct: float | None = Field(description="from the device's latest reading that carried it")


class TelemetryPoint(BaseModel):
    ts: datetime
    value: float


class TelemetryBucket(BaseModel):
    bucket: datetime
    min: float
    avg: float
    max: float
    count: int


class TelemetryOut(BaseModel):
    device_id: str
    metric: str
    unit: str
    start: datetime
    end: datetime
    bucket_s: int | None
    points: list[TelemetryPoint] | None = None
    buckets: list[TelemetryBucket] | None = None


# A sensor that reports every few seconds and has said nothing for two minutes is silent: its
# power, radio or firmware is in trouble even if its connection has not dropped yet.
SILENT_AFTER_S = 120
TELEMETRY_TYPES = ("tank_sensor", "gas_detector", "gps_tracker")


def device_status(row: dict[str, Any], now: datetime) -> str:
    if row["state"] == "offline":
        return "offline"
    if row["type"] in TELEMETRY_TYPES and row["last_seen_at"] is not None:
        silent = (now - row["last_seen_at"]).total_seconds() > SILENT_AFTER_S
        return "silent" if silent else "online"
    return str(row["state"])


@router.get("", response_model=list[DeviceOut])
async def list_devices(conn: Conn, _p: Reader, site: str | None = None) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT d.device_id, d.site, d.type, d.gate_id, d.plate, d.enabled, d.state, d.state_changed_at,"
        " d.last_seen_at, b.battery_pct FROM devices d"
        # The latest reading with a battery level: one index probe per device.
        " LEFT JOIN LATERAL (SELECT (t.\"values\"->>'battery_pct')::float8 AS battery_pct FROM telemetry t"
        "   WHERE t.device_id = d.device_id AND t.\"values\" ? 'battery_pct' ORDER BY t.ts DESC LIMIT 1) b ON true"
        " WHERE %(site)s::text IS NULL OR d.site = %(site)s ORDER BY d.site, d.device_id",
        {"site": site},
    )
    cols = [c.name for c in cur.description or []]
    now = datetime.now(UTC)
    rows = [dict(zip(cols, row, strict=True)) for row in await cur.fetchall()]
    for row in rows:
        row["status"] = device_status(row, now)
    return rows


def parse_bucket(bucket: str) -> int:
    match = BUCKET_RE.match(bucket.strip())
    if not match or int(match.group(1)) == 0:
        raise ApiError(422, "bad_bucket", f"bucket {bucket!r} is not a duration like 30s, 5m, 1h or 1d")
    return int(match.group(1)) * BUCKET_UNITS[match.group(2)]


@router.get("/{device_id}/telemetry", response_model=TelemetryOut, response_model_exclude_none=True)
async def device_telemetry(
    device_id: str,
    conn: Conn,
    _p: Reader,
    metric: Annotated[str, Query(description="metric name, e.g. tank_pressure_kpa")],
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
    bucket: Annotated[str | None, Query(description="aggregate per bucket: 30s, 5m, 1h, 1d")] = None,
) -> TelemetryOut:
    if metric not in ALL_METRICS:
        raise ApiError(422, "unknown_metric", f"unknown metric {metric!r}; known: {', '.join(sorted(ALL_METRICS))}")
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_RANGE
    if start >= end:
        raise ApiError(422, "bad_range", "start must be before end")
    cur = await conn.execute("SELECT 1 FROM devices WHERE device_id = %s", (device_id,))
    if await cur.fetchone() is None:
        raise ApiError(404, "not_found", f"no device {device_id!r}")
    out = TelemetryOut(
        device_id=device_id, metric=metric, unit=ALL_METRICS[metric].unit, start=start, end=end, bucket_s=None
    )
    args = {"device": device_id, "metric": metric, "start": start, "end": end, "limit": MAX_POINTS}
    if bucket is None:
        cur = await conn.execute(
            'SELECT ts, ("values"->>%(metric)s)::float8 FROM telemetry'
            ' WHERE device_id = %(device)s AND ts >= %(start)s AND ts < %(end)s AND "values" ? %(metric)s'
            " ORDER BY ts LIMIT %(limit)s",
            args,
        )
        out.points = [TelemetryPoint(ts=r[0], value=r[1]) for r in await cur.fetchall()]
        return out
    bucket_s = parse_bucket(bucket)
    if (end - start).total_seconds() / bucket_s > MAX_POINTS:
        raise ApiError(422, "too_many_buckets", f"that range holds more than {MAX_POINTS} buckets; use a larger bucket")
    out.bucket_s = bucket_s
    cur = await conn.execute(
        "SELECT time_bucket(make_interval(secs => %(bucket)s), ts) AS b, min(v), avg(v), max(v), count(*)"
        ' FROM (SELECT ts, ("values"->>%(metric)s)::float8 AS v FROM telemetry'
        '       WHERE device_id = %(device)s AND ts >= %(start)s AND ts < %(end)s AND "values" ? %(metric)s) s'
        " GROUP BY b ORDER BY b",
        {**args, "bucket": bucket_s},
    )
    out.buckets = [TelemetryBucket(bucket=r[0], min=r[1], avg=r[2], max=r[3], count=r[4]) for r in await cur.fetchall()]
    return out
