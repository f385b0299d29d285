"""The simulated park, pure and seeded: the same seed gives the same devices, series and arrivals.

Series follow the physics well enough to look right on a chart: a propylene tank's pressure
tracks its temperature (vapour pressure), temperature follows the day, level falls while it
unloads; gas detectors sit near zero with noise; GPS trackers drive around the park.

Trouble is planted, so the default rules and the gate have something to find:

* telemetry: a tank's pressure excursion, a gas detector falling silent, a gas leak; once per
  anomaly cycle (10 minutes by default), the first cycle starting at once;
* gate arrivals (``ArrivalPlan``): one arrival in four has one ``Trouble``. Two of them live in
  the registry (a tanker whose tank inspection expired, one whose waybill names a cargo its tank
  may not carry): those tankers come to the gate only when their trouble is drawn.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

# The park sits near Ningbo's chemical industry zone; tankers roam a ~3 km box around it.
PARK_LAT, PARK_LON = 29.958, 121.712
PARK_SPAN_DEG = 0.03
PROVINCES = "浙沪苏皖鲁闽赣"

# A propylene semi-trailer: tare, rated load, and what a full trip carries.
TARE_KG = 15000.0
RATED_LOAD_KG = 25000.0
CARGO_KG = 24000.0
PROPYLENE = {"un": "UN1077", "name": "丙烯", "class": "2.1"}
# Anhydrous ammonia: a real cargo of the park, but not on the propylene tanks' certificates.
AMMONIA = {"un": "UN1005", "name": "液氨", "class": "2.3"}
PERMITTED_UN = ("UN1077", "UN1978")  # propylene, propane

# One arrival in this many has trouble at the gate.
TROUBLE_EVERY = 4
# Telemetry anomalies repeat this often, so a demo left running keeps showing them.
ANOMALY_CYCLE_S = 600.0
EXCURSION_S, SILENCE_S, LEAK_S = 90.0, 180.0, 60.0
# The excursion climbs to just under a 2.2 MPa propylene tank's design pressure, where its
# relief valve would lift: above the default rule's 1,800 kPa alarm (docs/alerts.md).
EXCURSION_PEAK_KPA = 2050.0
# Propylene's LEL is 2.0 % by volume = 20,000 ppm; the leak peaks at 60 % LEL, past both
# GB/T 50493 alarm levels (25 % and 50 % LEL).
PROPYLENE_LEL_PPM = 20000.0
LEAK_PEAK_PPM = 12000.0


class Trouble(StrEnum):
    """What can be wrong with a simulated arrival, and (``REASON``) what the gate must say."""

    EXPIRED_TANK_INSPECTION = "expired_tank_inspection"
    CARGO_NOT_PERMITTED = "cargo_not_permitted"
    WAYBILL_OF_ANOTHER_TRUCK = "waybill_of_another_truck"
    SOMEONE_ELSES_FACE = "someone_elses_face"
    OVER_RATED_LOAD = "over_rated_load"


# Troubles that are facts of the registry: a tanker of their own carries them.
REGISTRY_TROUBLES = (Trouble.EXPIRED_TANK_INSPECTION, Trouble.CARGO_NOT_PERMITTED)
# The gate's reason code for each trouble (CONTRACT.md codes).
REASON = {
    Trouble.EXPIRED_TANK_INSPECTION: "tank_inspection_expired",
    Trouble.CARGO_NOT_PERMITTED: "medium_not_permitted",
    Trouble.WAYBILL_OF_ANOTHER_TRUCK: "waybill_vehicle_mismatch",
    Trouble.SOMEONE_ELSES_FACE: "face_mismatch",
    Trouble.OVER_RATED_LOAD: "over_rated_load",
}


@dataclass(frozen=True)
class SimDevice:
    device_id: str
    site: str
    type: str
    gate_id: str | None = None
    plate: str | None = None  # the vehicle it is mounted on
    zone: str | None = None  # the layout zone a fixed device is installed in (the demo park's)


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
    defect: Trouble | None = None  # one of REGISTRY_TROUBLES, or None: everything in order


@dataclass
class Anomalies:
    # (device_id, start_s, end_s), in seconds into each cycle of cycle_s (None: once, no cycle)
    pressure_excursions: list[tuple[str, float, float]] = field(default_factory=list)
    silences: list[tuple[str, float, float]] = field(default_factory=list)
    leaks: list[tuple[str, float, float]] = field(default_factory=list)
    cycle_s: float | None = ANOMALY_CYCLE_S


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

    @property
    def sound_tankers(self) -> list[Tanker]:
        return [t for t in self.tankers if t.defect is None]

    def defective(self, trouble: Trouble) -> Tanker | None:
        return next((t for t in self.tankers if t.defect is trouble), None)


GATE_DEVICE_TYPES = ("anpr_camera", "id_reader", "face_camera", "weighbridge", "waybill_scanner", "kiosk")


def id_number(rng: random.Random, birth: date) -> str:
    """A resident ID number with a valid GB 11643 check digit (region 330203: Ningbo Haishu)."""
    body = f"330203{birth:%Y%m%d}{rng.randrange(100, 999)}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def _tanker(rng: random.Random, seed: int, site: str, i: int, defect: Trouble | None = None) -> Tanker:
    plate = f"{rng.choice(PROVINCES)}{rng.choice('ABCDEFGH')}{rng.randrange(10000, 99999)}"
    birth = date(1970 + rng.randrange(25), 1 + rng.randrange(12), 1 + rng.randrange(28))
    birth2 = date(1975 + rng.randrange(25), 1 + rng.randrange(12), 1 + rng.randrange(28))
    return Tanker(
        index=i,
        plate=plate,
        tank_id=f"TK{i + 1:04d}",
        sensor=SimDevice(f"{site}-tk{i + 1:03d}-tank", site, "tank_sensor", plate=plate),
        gps=SimDevice(f"{site}-tk{i + 1:03d}-gps", site, "gps_tracker", plate=plate),
        driver_id=id_number(rng, birth),
        escort_id=id_number(rng, birth2),
        waybill_no=f"WB{seed:04d}{i + 1:05d}",
        defect=defect,
    )


# Where the gas detectors stand, in the demo park's layout (hazgate/simulate/demo_layout.py): the
# tank farm and the process unit store propylene, the warehouse chlorine cylinders (the demo's
# park catalogue), so a leak alert there gets a response card centred on its zone.
DETECTOR_ZONES: Final = ("tank-farm", "process-unit", "warehouse", "bay-a1")


def build_park(
    seed: int,
    *,
    gates: int,
    tankers: int,
    detectors: int = 4,
    site: str = "park1",
    anomaly_cycle_s: float = ANOMALY_CYCLE_S,
) -> Park:
    """``tankers`` sound tankers, plus (when there is at least one) a tanker per registry trouble."""
    rng = random.Random(seed)
    gate_ids = [f"gate{g + 1}" for g in range(gates)]
    gate_devices = {
        g: {t: SimDevice(f"{site}-{g}-{t.split('_')[0]}", site, t, g) for t in GATE_DEVICE_TYPES} for g in gate_ids
    }
    fleet = [_tanker(rng, seed, site, i) for i in range(tankers)]
    dets = [
        SimDevice(f"{site}-gas{d + 1:02d}", site, "gas_detector", zone=DETECTOR_ZONES[d % len(DETECTOR_ZONES)])
        for d in range(detectors)
    ]
    anomalies = Anomalies(cycle_s=anomaly_cycle_s)
    if fleet:
        victim = rng.choice(fleet).sensor.device_id
        start = rng.uniform(0.10, 0.25) * anomaly_cycle_s
        anomalies.pressure_excursions.append((victim, start, start + EXCURSION_S))
    if dets:
        quiet, leak = rng.sample(dets, 2) if len(dets) > 1 else (dets[0], dets[0])
        start = rng.uniform(0.05, 0.15) * anomaly_cycle_s
        anomalies.silences.append((quiet.device_id, start, start + SILENCE_S))
        start = rng.uniform(0.15, 0.30) * anomaly_cycle_s
        anomalies.leaks.append((leak.device_id, start, start + LEAK_S))
    # Drawn last, so the sound tankers keep the plates and crews earlier versions gave them.
    if fleet:
        fleet += [_tanker(rng, seed, site, tankers + k, trouble) for k, trouble in enumerate(REGISTRY_TROUBLES)]
    return Park(seed, site, gate_ids, fleet, dets, gate_devices, anomalies)


def _in(anomalies: Anomalies, windows: list[tuple[str, float, float]], device_id: str, t: float) -> float | None:
    """How far into an anomaly window (0..1) we are, or None outside it."""
    if anomalies.cycle_s:
        t %= anomalies.cycle_s
    for dev, start, end in windows:
        if dev == device_id and start <= t < end:
            return (t - start) / (end - start)
    return None


def tank_reading(park: Park, tanker: Tanker, t: float, rng: random.Random) -> dict[str, float]:
    temp = 18 + 6 * math.sin(2 * math.pi * t / 86400 + tanker.index) + rng.gauss(0, 0.15)
    # Propylene vapour pressure: ~1000 kPa at 20 °C, rising ~35 kPa per °C around there.
    pressure = 1000 + 35 * (temp - 20) + rng.gauss(0, 4)
    excursion = _in(park.anomalies, park.anomalies.pressure_excursions, tanker.sensor.device_id, t)
    if excursion is not None:
        pressure += (EXCURSION_PEAK_KPA - pressure) * math.sin(math.pi * excursion)
    level = max(5.0, 85 - (t / 60) * 0.05 * (1 + tanker.index % 3))
    return {
        "tank_pressure_kpa": round(pressure, 1),
        "tank_temp_c": round(temp, 2),
        "tank_level_pct": round(level, 2),
        "battery_pct": round(max(10.0, 100 - t / 3600), 1),
    }


def gas_reading(park: Park, detector: SimDevice, t: float, rng: random.Random) -> dict[str, float] | None:
    if _in(park.anomalies, park.anomalies.silences, detector.device_id, t) is not None:
        return None  # the detector is silent: nothing is sent
    ppm = max(0.0, rng.gauss(2, 1))
    leak = _in(park.anomalies, park.anomalies.leaks, detector.device_id, t)
    if leak is not None:
        ppm += LEAK_PEAK_PPM * math.sin(math.pi * leak)
    return {"gas_ppm": round(ppm, 1), "gas_lel_pct": round(min(100.0, 100 * ppm / PROPYLENE_LEL_PPM), 2)}


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
        tank_expires = valid
        if t.defect is Trouble.EXPIRED_TANK_INSPECTION:
            tank_expires = (now - timedelta(days=20)).date().isoformat()
        vehicles.append(
            {
                "plate": t.plate,
                "carrier_id": "C001",
                "vehicle_license_expires": valid,
                "transport_permit_no": f"330200{t.index:06d}",
                "transport_permit_expires": valid,
                "inspection_expires": valid,
                "rated_load_kg": RATED_LOAD_KG,
                "tare_kg": TARE_KG,
                "tank": {
                    "id": t.tank_id,
                    "capacity_m3": 52.6,
                    "inspection_expires": tank_expires,
                    "permitted_un": list(PERMITTED_UN),
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
                "cargo": {**cargo_of(t), "quantity_kg": cargo_kg(t)},
                "valid_from": (now - timedelta(hours=1)).isoformat(),
                "valid_to": (now + timedelta(days=2)).isoformat(),
            }
        )
    return {"carriers": carriers, "vehicles": vehicles, "personnel": personnel, "waybills": waybills}


def cargo_of(tanker: Tanker) -> dict[str, str]:
    return AMMONIA if tanker.defect is Trouble.CARGO_NOT_PERMITTED else PROPYLENE


def cargo_kg(tanker: Tanker) -> float:
    # Ammonia is denser than propylene, but a tank is filled by weight to its rated load.
    return 20000.0 if tanker.defect is Trouble.CARGO_NOT_PERMITTED else CARGO_KG


@dataclass(frozen=True)
class PlannedArrival:
    """One gate arrival: which tanker at which gate, what goes wrong (None: nothing), and the
    inputs that differ from a clean arrival."""

    tanker: Tanker
    gate: str
    trouble: Trouble | None
    gross_kg: float
    waybill_no: str  # the waybill scanned: another truck's for WAYBILL_OF_ANOTHER_TRUCK
    impostor: str | None = None  # "driver": someone else looks into the camera


class ArrivalPlan:
    """The seeded sequence of arrivals. Each round of ``trouble_every`` arrivals holds exactly
    one with trouble, at a random place; the kinds come from a shuffled bag, so every kind shows
    within ``len(Trouble)`` rounds. Its own random stream: telemetry noise does not move it."""

    def __init__(self, park: Park, seed: int, trouble_every: int = TROUBLE_EVERY) -> None:
        if not park.sound_tankers or not park.gates:
            raise ValueError("an arrival plan needs at least one gate and one sound tanker")
        self.park = park
        self.trouble_every = trouble_every
        self.rng = random.Random(seed * 1_000_003 + 17)
        self._round: list[bool] = []
        self._bag: list[Trouble] = []

    def _next_trouble(self) -> Trouble | None:
        if not self._round:
            self._round = [True] + [False] * (self.trouble_every - 1)
            self.rng.shuffle(self._round)
        if not self._round.pop():
            return None
        if not self._bag:
            self._bag = [t for t in Trouble if t not in REGISTRY_TROUBLES or self.park.defective(t)]
            self.rng.shuffle(self._bag)
        return self._bag.pop()

    def next(self) -> PlannedArrival:
        trouble = self._next_trouble()
        gate = self.rng.choice(self.park.gates)
        defective = self.park.defective(trouble) if trouble in REGISTRY_TROUBLES else None
        tanker = defective or self.rng.choice(self.park.sound_tankers)
        gross = TARE_KG + cargo_kg(tanker) + self.rng.uniform(-150, 150)
        waybill_no = tanker.waybill_no
        impostor = None
        if trouble is Trouble.OVER_RATED_LOAD:
            gross = TARE_KG + RATED_LOAD_KG + self.rng.uniform(1500, 3500)
        elif trouble is Trouble.WAYBILL_OF_ANOTHER_TRUCK:
            waybill_no = self.rng.choice([t for t in self.park.tankers if t is not tanker]).waybill_no
        elif trouble is Trouble.SOMEONE_ELSES_FACE:
            impostor = "driver"
        return PlannedArrival(tanker, gate, trouble, round(gross, 1), waybill_no, impostor)
