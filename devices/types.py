"""Device types and their metrics, each with a unit (in its name) and a valid range."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class DeviceType(StrEnum):
    TANK_SENSOR = "tank_sensor"
    GAS_DETECTOR = "gas_detector"
    GPS_TRACKER = "gps_tracker"
    ANPR_CAMERA = "anpr_camera"
    ID_READER = "id_reader"
    FACE_CAMERA = "face_camera"
    WEIGHBRIDGE = "weighbridge"
    WAYBILL_SCANNER = "waybill_scanner"
    KIOSK = "kiosk"
    MONITOR = "monitor"


class Metric(BaseModel, frozen=True):
    name: str
    unit: str
    min: float
    max: float


# Ranges are physical plausibility bounds (sensor full scale), not alarm limits: a reading
# outside them is a broken sensor or a bad payload and is refused, not stored.
METRICS: dict[DeviceType, tuple[Metric, ...]] = {
    DeviceType.TANK_SENSOR: (
        Metric(name="tank_pressure_kpa", unit="kPa", min=-100, max=10_000),
        Metric(name="tank_temp_c", unit="°C", min=-60, max=150),
        Metric(name="tank_level_pct", unit="%", min=0, max=100),
        Metric(name="battery_pct", unit="%", min=0, max=100),
    ),
    DeviceType.GAS_DETECTOR: (
        Metric(name="gas_lel_pct", unit="%LEL", min=0, max=100),
        Metric(name="gas_ppm", unit="ppm", min=0, max=1_000_000),
        Metric(name="battery_pct", unit="%", min=0, max=100),
    ),
    DeviceType.GPS_TRACKER: (
        Metric(name="lat", unit="°", min=-90, max=90),
        Metric(name="lon", unit="°", min=-180, max=180),
        Metric(name="speed_kmh", unit="km/h", min=0, max=250),
        Metric(name="battery_pct", unit="%", min=0, max=100),
    ),
}

GATE_DEVICE_TYPES = frozenset(
    {
        DeviceType.ANPR_CAMERA,
        DeviceType.ID_READER,
        DeviceType.FACE_CAMERA,
        DeviceType.WEIGHBRIDGE,
        DeviceType.WAYBILL_SCANNER,
        DeviceType.KIOSK,
    }
)

ALL_METRICS: dict[str, Metric] = {m.name: m for metrics in METRICS.values() for m in metrics}


_BY_TYPE: dict[DeviceType, dict[str, Metric]] = {t: {m.name: m for m in METRICS.get(t, ())} for t in DeviceType}


def metrics_for(device_type: DeviceType) -> dict[str, Metric]:
    """The metrics a device type publishes, by name (shared: do not modify)."""
    return _BY_TYPE[device_type]
