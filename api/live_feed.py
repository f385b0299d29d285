"""What the live stream carries, converted from broker messages and stored batches (pure).

Topics of the stream: ``inspections`` (event ``inspection``: a gate's decision message, as the
kiosk topic carries it), ``devices`` (event ``device``: a status change), ``telemetry`` (event
``telemetry``: each device's latest values and its readings since the last event, coalesced so a
browser gets at most one event per device per flush), and ``alerts`` (from the alerting side, see api/stream.py).
"""

from __future__ import annotations

import json
import math
import threading
from datetime import datetime
from typing import Any, Final

from api.stream import StreamEvent
from devices.types import ALL_METRICS

TOPICS: Final = ("inspections", "devices", "telemetry", "alerts")


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return None


def decision_event(site: str, gate_id: str, payload: bytes) -> StreamEvent | None:
    body = _json(payload)
    if not isinstance(body, dict) or not isinstance(body.get("inspection_id"), str):
        return None
    return StreamEvent("inspections", "inspection", {**body, "site": site, "gate_id": gate_id})


def status_event(site: str, device_id: str, payload: bytes, at: datetime) -> StreamEvent | None:
    body = _json(payload)
    state = body.get("state") if isinstance(body, dict) else None
    if state not in ("online", "offline"):
        return None
    return StreamEvent(
        "devices", "device", {"device_id": device_id, "site": site, "state": state, "at": at.isoformat()}
    )


def plausible_values(values: object) -> dict[str, float]:
    """Known metrics within their valid range; anything else the gateway would refuse too."""
    if not isinstance(values, dict):
        return {}
    out = {}
    for name, value in values.items():
        metric = ALL_METRICS.get(name)
        if metric is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value) and metric.min <= value <= metric.max:
            out[name] = float(value)
    return out


def telemetry_readings(payload: bytes) -> list[tuple[str, dict[str, float]]]:
    """(ts, values) of each reading in a telemetry message, as sent."""
    body = _json(payload)
    readings = body if isinstance(body, list) else [body]
    out = []
    for reading in readings:
        if isinstance(reading, dict) and isinstance(reading.get("ts"), str):
            values = plausible_values(reading.get("values"))
            if values:
                out.append((reading["ts"], values))
    return out


# Readings kept per device between flushes: a chart folds each one into its bucket (min, max,
# average); a device sending faster than this per flush has its oldest readings left out.
MAX_READINGS_PER_FLUSH: Final = 50


class Coalescer:
    """Per device since the last flush: the latest values, and the readings (bounded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, dict[str, Any]] = {}

    def add(self, device_id: str, site: str, ts: str, values: dict[str, float]) -> None:
        with self._lock:
            entry = self._latest.setdefault(
                device_id, {"device_id": device_id, "site": site, "ts": ts, "values": {}, "readings": []}
            )
            if ts >= entry["ts"]:  # RFC 3339 in one zone sorts as text; a late redelivery does not win
                entry["ts"] = ts
                entry["values"].update(values)
            readings: list[dict[str, Any]] = entry["readings"]
            readings.append({"ts": ts, "values": values})
            if len(readings) > MAX_READINGS_PER_FLUSH:
                del readings[0]

    def flush(self) -> list[StreamEvent]:
        with self._lock:
            latest, self._latest = self._latest, {}
        return [StreamEvent("telemetry", "telemetry", data) for data in latest.values()]
