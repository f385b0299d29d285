"""The simulated park, pure and seeded: the same seed gives the same devices, series and arrivals.

Series follow the physics well enough to look right on a chart: a propylene tank's pressure
tracks its temperature (vapour pressure), temperature follows the day, level falls while it
unloads; gas detectors sit near zero with noise; GPS trackers drive around the park. A few
anomalies are planted: a pressure excursion, a detector falling silent, a gas leak.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

# The park sits near Ningbo's chemical industry zone; tankers roam a ~3 km box around it.
PARK_LAT, PARK_LON = 29.958, 121.712
PARK_SPAN_DEG = 0.03
PROVINCES = "浙沪苏皖鲁闽赣"


@dataclass(frozen=True)
class SimDevice:
    device_id: str
    site: str
    type: str
    gate_id: str | None = None
    plate: str | None = None  # the vehicle it is mounted on


@dataclass(frozen=True)
class Tanker:
    index: int
    plate: str
    tank_id: str
    sensor: SimDevice
    gps: SimDevice
    driver_id: str
    escort_id: str
    waybill_no: str


@dataclass
class Anomalies:
    # (device_id, start_s, end_s)
    pressure_excursions: list[tuple[str, float, float]] = field(default_factory=list)
    silences: list[tuple[str, float, float]] = field(default_factory=list)
    leaks: list[tuple[str, float, float]] = field(default_factory=list)


@dataclass
class Park:
    seed: int
    site: str
    gates: list[str]
    tankers: list[Tanker]
    detectors: list[SimDevice]
    gate_devices: dict[str, dict[str, SimDevice]]
    anomalies: Anomalies

    @property
    def devices(self) -> list[SimDevice]:
        found = [d for t in self.tankers for d in (t.sensor, t.gps)] + self.detectors
        return found + [d for per_gate in self.gate_devices.values() for d in per_gate.values()]


GATE_DEVICE_TYPES = ("anpr_camera", "id_reader", "face_camera", "weighbridge", "waybill_scanner", "kiosk")


def id_number(rng: random.Random, birth: date) -> str:
    """A resident ID number with a valid GB 11643 check digit (region 330203: Ningbo Haishu)."""
    body = f"330203{birth:%Y%m%d}{rng.randrange(100, 999)}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def build_park(
    seed: int, *, gates: int, tankers: int, detectors: int = 4, site: str = "park1", duration_s: float = 3600.0
) -> Park:
    rng = random.Random(seed)
    gate_ids = [f"gate{g + 1}" for g in range(gates)]
    gate_devices = {
        g: {t: SimDevice(f"{site}-{g}-{t.split('_')[0]}", site, t, g) for t in GATE_DEVICE_TYPES} for g in gate_ids
    }
    fleet = []
    for i in range(tankers):
        plate = f"{rng.choice(PROVINCES)}{rng.choice('ABCDEFGH')}{rng.randrange(10000, 99999)}"
        birth = date(1970 + rng.randrange(25), 1 + rng.randrange(12), 1 + rng.randrange(28))
        birth2 = date(1975 + rng.randrange(25), 1 + rng.randrange(12), 1 + rng.randrange(28))
        fleet.append(
            Tanker(
                index=i,
                plate=plate,
                tank_id=f"TK{i + 1:04d}",
                sensor=SimDevice(f"{site}-tk{i + 1:03d}-tank", site, "tank_sensor", plate=plate),
                gps=SimDevice(f"{site}-tk{i + 1:03d}-gps", site, "gps_tracker", plate=plate),
                driver_id=id_number(rng, birth),
                escort_id=id_number(rng, birth2),
                waybill_no=f"WB{seed:04d}{i + 1:05d}",
            )
        )
    dets = [SimDevice(f"{site}-gas{d + 1:02d}", site, "gas_detector") for d in range(detectors)]
    anomalies = Anomalies()
    if fleet:
        victim = rng.choice(fleet).sensor.device_id
        start = rng.uniform(0.2, 0.6) * duration_s
        anomalies.pressure_excursions.append((victim, start, start + 90))
    if dets:
        quiet = rng.choice(dets).device_id
        start = rng.uniform(0.3, 0.7) * duration_s
        anomalies.silences.append((quiet, start, start + 180))
        leak = rng.choice(dets).device_id
        start = rng.uniform(0.5, 0.9) * duration_s
        anomalies.leaks.append((leak, start, start + 60))
    return Park(seed, site, gate_ids, fleet, dets, gate_devices, anomalies)


def _in(windows: list[tuple[str, float, float]], device_id: str, t: float) -> float | None:
    """How far into an anomaly window (0..1) we are, or None outside it."""
    for dev, start, end in windows:
        if dev == device_id and start <= t < end:
            return (t - start) / (end - start)
    return None


def tank_reading(park: Park, tanker: Tanker, t: float, rng: random.Random) -> dict[str, float]:
    temp = 18 + 6 * math.sin(2 * math.pi * t / 86400 + tanker.index) + rng.gauss(0, 0.15)
    # Propylene vapour pressure: ~1000 kPa at 20 °C, rising ~35 kPa per °C around there.
    pressure = 1000 + 35 * (temp - 20) + rng.gauss(0, 4)
    excursion = _in(park.anomalies.pressure_excursions, tanker.sensor.device_id, t)
    if excursion is not None:
        pressure += 900 * math.sin(math.pi * excursion)
    level = max(5.0, 85 - (t / 60) * 0.05 * (1 + tanker.index % 3))
    return {
        "tank_pressure_kpa": round(pressure, 1),
        "tank_temp_c": round(temp, 2),
        "tank_level_pct": round(level, 2),
        "battery_pct": round(max(10.0, 100 - t / 3600), 1),
    }


def gas_reading(park: Park, detector: SimDevice, t: float, rng: random.Random) -> dict[str, float] | None:
    if _in(park.anomalies.silences, detector.device_id, t) is not None:
        return None  # the detector is silent: nothing is sent
    ppm = max(0.0, rng.gauss(2, 1))
    leak = _in(park.anomalies.leaks, detector.device_id, t)
    if leak is not None:
        ppm += 4000 * math.sin(math.pi * leak)
    # Propylene's LEL is 2.0 % by volume = 20,000 ppm.
    return {"gas_ppm": round(ppm, 1), "gas_lel_pct": round(min(100.0, ppm / 200), 2)}


def gps_reading(tanker: Tanker, t: float, rng: random.Random) -> dict[str, float]:
    phase = t / 600 + tanker.index
    lat = PARK_LAT + PARK_SPAN_DEG / 2 * math.sin(phase)
    lon = PARK_LON + PARK_SPAN_DEG / 2 * math.cos(phase * 0.7)
    speed = abs(25 * math.cos(phase)) + rng.gauss(0, 1)
    return {"lat": round(lat, 6), "lon": round(lon, 6), "speed_kmh": round(max(0.0, speed), 1)}


ROLE_NAMES = {"driver": "司机", "escort": "押运员"}


def person_name(role: str, tanker: Tanker) -> str:
    """The name on a crew member's ID card, the same in the registry and at the gate."""
    return f"{ROLE_NAMES[role]}{tanker.index + 1}"


def registry_document(park: Park, now: datetime, photos: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A registry import file for the park (CONTRACT.md format); photos: person id -> (id photo, live)."""
    valid = (now + timedelta(days=365)).date().isoformat()
    carriers = [
        {
            "id": "C001",
            "name": "宁波危化运输有限公司",
            "permit_no": "浙交运管许可甬字330200001",
            "permit_expires": valid,
        }
    ]
    vehicles, personnel, waybills = [], [], []
    for t in park.tankers:
        vehicles.append(
            {
                "plate": t.plate,
                "carrier_id": "C001",
                "vehicle_license_expires": valid,
                "transport_permit_no": f"330200{t.index:06d}",
                "transport_permit_expires": valid,
                "inspection_expires": valid,
                "rated_load_kg": 25000,
                "tare_kg": 15000,
                "tank": {
                    "id": t.tank_id,
                    "capacity_m3": 52.6,
                    "inspection_expires": valid,
                    "permitted_un": ["UN1077", "UN1978"],
                },
            }
        )
        for person_id, role in ((t.driver_id, "driver"), (t.escort_id, "escort")):
            personnel.append(
                {
                    "id_number": person_id,
                    "name": person_name(role, t),
                    "roles": [role],
                    "qualification_no": f"Q{person_id[-8:]}",
                    "qualification_class": role,
                    "qualification_expires": valid,
                    "photo": photos[person_id][0],
                }
            )
        waybills.append(
            {
                "waybill_no": t.waybill_no,
                "plate": t.plate,
                "driver_id": t.driver_id,
                "escort_id": t.escort_id,
                "cargo": {"un": "UN1077", "name": "丙烯", "class": "2.1", "quantity_kg": 24000},
                "valid_from": (now - timedelta(hours=1)).isoformat(),
                "valid_to": (now + timedelta(days=2)).isoformat(),
            }
        )
    return {"carriers": carriers, "vehicles": vehicles, "personnel": personnel, "waybills": waybills}
