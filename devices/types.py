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
        # JT/T 808 terminals report these too (docs/jt808.md); MQTT trackers may.
        Metric(name="heading_deg", unit="°", min=0, max=359),
        # The standard's altitude is an unsigned WORD in metres; above 9000 m is no road.
        Metric(name="altitude_m", unit="m", min=-500, max=9000),
        # The 32-bit JT/T 808 alarm word as a number; a `flag` rule watches one bit of it.
        Metric(name="alarm_flags", unit="bits", min=0, max=2**32 - 1),
        # Odometer of the vehicle (extra item 0x01), 0.1 km steps.
        Metric(name="mileage_km", unit="km", min=0, max=10_000_000),
    ),
}

# Metrics that hold a word of bits rather than a measure; rules of kind `flag` watch them.
FLAG_METRICS = frozenset({"alarm_flags"})

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
