"""What the engine evaluates: typed input events, converted at the boundary by the adapters.

Frozen slotted dataclasses, not pydantic models: one is built per telemetry reading, so they must
be cheap. Every timestamp must be timezone-aware; time-based rules compare event times only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


def _require_aware(ts: datetime, what: str) -> None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {ts.isoformat()})")


def normalize_plate(plate: str) -> str:
    """Plates compare without surrounding blanks and with Latin letters upper-cased: 浙b12345 = 浙B12345."""
    return plate.strip().upper()


@dataclass(frozen=True, slots=True)
class Reading:
    """One telemetry message of a device: several metrics measured at ``ts``."""

    device_id: str
    site: str
    device_type: str
    ts: datetime
    values: Mapping[str, float]

    def __post_init__(self) -> None:
        _require_aware(self.ts, "Reading.ts")


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """The retained status topic: ``offline`` is also what the broker publishes as last will.

    ``device_type`` is optional because the status payload does not carry it; when absent, rules
    scoped to a device type use the type remembered from the device's readings.
    """

    device_id: str
    site: str
    state: Literal["online", "offline"]
    ts: datetime
    device_type: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.ts, "DeviceStatus.ts")
        if self.state not in ("online", "offline"):
            raise ValueError(f"DeviceStatus.state must be 'online' or 'offline', not {self.state!r}")


@dataclass(frozen=True, slots=True)
class VehicleEntered:
    """A vehicle passed inspection and entered the park."""

    plate: str
    site: str
    ts: datetime
    gate_id: str | None = None
    inspection_id: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.ts, "VehicleEntered.ts")


@dataclass(frozen=True, slots=True)
class VehicleLeft:
    """A vehicle left the park (exit event)."""

    plate: str
    site: str
    ts: datetime
    gate_id: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.ts, "VehicleLeft.ts")


@dataclass(frozen=True, slots=True)
class InspectionFailed:
    """A gate inspection ended with result ``fail``; ``failed_checks`` are the 五必查 codes that failed."""

    inspection_id: str
    plate: str
    site: str
    gate_id: str
    ts: datetime
    failed_checks: tuple[str, ...]
    reasons: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        _require_aware(self.ts, "InspectionFailed.ts")


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock: time-based rules (absence, dwell) are checked against ``now``."""

    now: datetime

    def __post_init__(self) -> None:
        _require_aware(self.now, "Tick.now")


Event = Reading | DeviceStatus | VehicleEntered | VehicleLeft | InspectionFailed | Tick
