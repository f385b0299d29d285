"""Whole stays for the simulator (`hazgate simulate --stays`): a tanker is booked and approved,
arrives at the waiting lot (the lot camera reads its plate), is called to the entry gate, passes
the five checks, drives to a filling bay, is filled, and leaves through the exit gate over the
weighbridge. Now and then one overstays, and now and then one leaves overweight (the barrier holds
until the excess is unloaded and it is weighed again).

The route and the plan of a stay are pure and seeded; the runner drives them through the broker
(lot camera, gate devices, GPS) and records what the park's people do (book, approve, call,
confirm the loading) with the stay's own functions, as their systems would through the API.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import psycopg

from checks import CheckPolicy
from hazgate.settings import Settings
from hazgate.simulate.demo_layout import GATE_OUT_X
from hazgate.simulate.drive import FRAME, GPS_NOISE_M, Leg, Xy, tour
from hazgate.simulate.park import Park, PlannedArrival, SimDevice, Tanker
from hazgate.topics import DeviceKind
from stays import bookings, lifecycle, store
from stays import queue as lot_queue
from stays.errors import StayError

if TYPE_CHECKING:
    from hazgate.simulate.runner import Simulator

LOT_ID = "lot1"
EXIT_GATE = "exit1"
TARE_KG = 15000.0  # the simulated tankers' registered tare and waybill quantity
CARGO_KG = 24000.0
GATE_OUT: Final = (GATE_OUT_X, -780.0)  # through gate 2 (hazgate/simulate/drive.py)


@dataclass(frozen=True)
class StayRoute:
    """A stay's drive on the demo park's roads (the tours of hazgate/simulate/drive.py): from the
    lot through gate 1 to a filling bay, the bay, and from the bay out through gate 2."""

    inbound: tuple[Leg, ...]
    bay: Xy
    outbound: tuple[Leg, ...]

    @classmethod
    def for_bay(cls, bay: int) -> StayRoute:
        legs = tour(bay, None, random.Random(bay))
        filling = max(i for i, leg in enumerate(legs) if leg.stand_s)  # the waiting stand comes first
        out = next(i for i, leg in enumerate(legs) if i > filling and leg.b == GATE_OUT)
        return cls(tuple(legs[1:filling]), legs[filling].a, tuple(legs[filling + 1 : out + 1]))

    @staticmethod
    def seconds(legs: tuple[Leg, ...]) -> float:
        return sum(leg.seconds for leg in legs)


@dataclass(frozen=True)
class StayPlan:
    drive_s: float | None  # each way; None: at the roads' speeds
    fill_s: float
    overstay: bool  # stays at the bay several times longer than it should
    overweight_kg: float  # over the waybill at the exit (0: loaded right)


def plan_stay(rng: random.Random, *, drive_s: float | None = None, fill_s: float = 180.0) -> StayPlan:
    """One stay's plan: about one in eight overstays, one in six leaves overweight."""
    overstay = rng.random() < 1 / 8
    return StayPlan(
        drive_s=None if drive_s is None else drive_s * rng.uniform(0.8, 1.2),
        fill_s=fill_s * rng.uniform(0.8, 1.2) * (6 if overstay else 1),
        overstay=overstay,
        overweight_kg=rng.uniform(2500, 4000) if rng.random() < 1 / 6 else 0.0,
    )


def _along(legs: tuple[Leg, ...], fraction: float) -> tuple[Xy, float]:
    at = min(1.0, max(0.0, fraction)) * StayRoute.seconds(legs)
    for leg in legs:
        if at < leg.seconds:
            if leg.stand_s:
                return leg.a, 0.0
            f = at / leg.seconds
            return (leg.a[0] + f * (leg.b[0] - leg.a[0]), leg.a[1] + f * (leg.b[1] - leg.a[1])), leg.kmh
        at -= leg.seconds
    return legs[-1].b, 0.0


def position(route: StayRoute, phase: str, fraction: float, rng: random.Random) -> dict[str, float]:
    """A GPS reading for a stay's phase: driving in, at the bay, driving out."""
    if phase == "in":
        (x, y), kmh = _along(route.inbound, fraction)
    elif phase == "out":
        (x, y), kmh = _along(route.outbound, fraction)
    else:
        (x, y), kmh = route.bay, 0.0
    lon, lat = FRAME.to_lonlat(x + rng.gauss(0, GPS_NOISE_M), y + rng.gauss(0, GPS_NOISE_M))
    speed = max(0.0, kmh + rng.gauss(0, 0.8)) if kmh else abs(rng.gauss(0, 0.4))
    return {"lat": round(lat, 7), "lon": round(lon, 7), "speed_kmh": round(speed, 1)}


class StayRunner:
    """Drives whole stays on a running simulator."""

    def __init__(self, settings: Settings, park: Park, policy: CheckPolicy) -> None:
        self.settings = settings
        self.park = park
        self.policy = policy
        self._sim: Simulator | None = None
        site = park.site
        self.lot_camera = SimDevice(f"{site}-{LOT_ID}-anpr", site, "anpr_camera", LOT_ID)
        self.exit_devices = {
            t: SimDevice(f"{site}-{EXIT_GATE}-{t.split('_')[0]}", site, t, EXIT_GATE)
            for t in ("anpr_camera", "weighbridge", "kiosk")
        }
        self.rng = random.Random(park.seed + 11)
        # plate -> (phase, started, duration, route)
        self.inside: dict[str, tuple[str, float, float, StayRoute]] = {}
        self.busy: set[str] = set()
        self.stays = 0
        self.lock = threading.Lock()
        # Timing (seconds), injectable so a test runs a whole stay in a minute (drive_s None: the
        # roads' speeds).
        self.drive_s: float | None = None
        self.fill_s = 180.0
        self.lot_wait_s = (5.0, 15.0)
        self.reweigh_after_s = (20.0, 40.0)

    @classmethod
    def for_park(cls, settings: Settings, park: Park) -> StayRunner:
        return cls(settings, park, settings.gate.check_policy())

    @property
    def sim(self) -> Simulator:
        assert self._sim is not None, "attach() the runner to a simulator first"
        return self._sim

    @property
    def devices(self) -> list[SimDevice]:
        return [self.lot_camera, *self.exit_devices.values()]

    def attach(self, sim: Simulator) -> None:
        """Drive stays on this simulator, in the park's gates (entry gates, one exit gate) and lot."""
        self._sim = sim
        sim.stays = self
        site = self.park.site
        with psycopg.connect(self.settings.db_url) as conn:
            for gate in self.park.gates:
                store.set_gate(conn, site, gate, "entry")
            store.set_gate(conn, site, EXIT_GATE, "exit")
            store.set_lot(conn, site, LOT_ID, 8)
        self.close_left_over()

    def close_left_over(self) -> None:
        """Stays a previous run left open (it was stopped mid-stay) end now, as a duty officer
        would close them, so the map does not show tankers "inside" for hours that are not."""
        now = datetime.now(UTC)
        plates = [t.plate for t in self.park.tankers]
        with psycopg.connect(self.settings.db_url, autocommit=True) as conn:
            for plate in plates:
                visit = store.open_visit(conn, self.park.site, plate)
                if visit is None:
                    continue
                with contextlib.suppress(StayError):
                    lifecycle.close_by_officer(
                        conn, visit.id, by="simulator", reason="模拟器重新启动，上次运行的在园记录结束", at=now
                    )

    # -- what the simulator's tick asks ---------------------------------------------------------
    def gps(self, tanker: Tanker, rng: random.Random) -> dict[str, float] | None:
        """The tanker's position while its stay drives it; None: it roams outside as before."""
        with self.lock:
            found = self.inside.get(tanker.plate)
        if found is None:
            return None
        phase, started, duration_s, route = found
        return position(route, phase, (time.monotonic() - started) / duration_s, rng)

    def start_next(self) -> None:
        """A whole stay for an idle sound tanker, if there is one."""
        tanker = self.free_tanker()
        if tanker is not None:
            threading.Thread(target=self.stay, args=(tanker,), daemon=True).start()

    def free_tanker(self) -> Tanker | None:
        with self.lock:
            idle = [t for t in self.park.sound_tankers if t.plate not in self.busy]
            if not idle:
                return None
            tanker = self.rng.choice(idle)
            self.busy.add(tanker.plate)
            return tanker

    # -- one stay ----------------------------------------------------------------------------------
    def _publish(self, device: SimDevice, body: dict[str, Any]) -> None:
        body = {**body, "event_id": str(uuid.uuid4()), "ts": datetime.now(UTC).isoformat()}
        self.sim.clients[device.device_id].publish(self.sim.topic(device, DeviceKind.EVENT), json.dumps(body), qos=1)

    def _phase(self, plate: str, phase: str, duration_s: float, route: StayRoute) -> None:
        with self.lock:
            self.inside[plate] = (phase, time.monotonic(), duration_s, route)
        self.sim.stop.wait(duration_s)

    def _visit(self, conn: psycopg.Connection, plate: str, state: str, wait_s: float = 60.0) -> Any:
        deadline = time.monotonic() + wait_s
        while not self.sim.stop.is_set() and time.monotonic() < deadline:
            found = store.open_visit(conn, self.sim.park.site, plate)
            if found is not None and found.state.value == state:
                return found
            self.sim.stop.wait(1.0)
        return None

    def stay(self, tanker: Tanker) -> None:
        try:
            self._stay(tanker)
        except (psycopg.Error, StayError) as exc:
            from hazgate.simulate.runner import say

            say(f"stay of {tanker.plate} stopped: {exc}")
        finally:
            with self.lock:
                self.inside.pop(tanker.plate, None)
                self.busy.discard(tanker.plate)

    def _stay(self, tanker: Tanker) -> None:
        plan = plan_stay(self.rng, drive_s=self.drive_s, fill_s=self.fill_s)
        site, now = self.sim.park.site, datetime.now(UTC)
        with psycopg.connect(self.sim.settings.db_url, autocommit=True) as conn:
            booking = bookings.create(
                conn,
                site=site,
                plate=tanker.plate,
                waybill_no=tanker.waybill_no,
                slot_start=now - timedelta(minutes=5),
                slot_end=now + timedelta(hours=2),
                enterprise="宁波石化仓储有限公司",
                driver_id=None,
                escort_id=None,
                by="simulator",
                now=now,
                blacklist=lambda _c, _s, _a: [],
                policy=self.policy,
            )
            bookings.change(conn, booking.id, "approve", by="simulator", now=datetime.now(UTC))
            self._publish(self.lot_camera, {"type": "plate", "plate": tanker.plate, "confidence": 0.96})
            if self._visit(conn, tanker.plate, "queued", 30) is None:
                return
            self.sim.stop.wait(self.rng.uniform(*self.lot_wait_s))  # waiting in the lot
            gate = self.rng.choice(self.sim.park.gates)
            # Nobody to call (another stay was called first): this one goes in anyway when its turn comes.
            with contextlib.suppress(StayError):
                lot_queue.call_next(
                    conn,
                    site=site,
                    lot_id=LOT_ID,
                    gate_id=gate,
                    by="simulator",
                    at=datetime.now(UTC),
                    policy=self.policy,
                )
            gross = TARE_KG + self.rng.uniform(-150, 150)  # arriving empty, to load
            self.sim.arrival(
                PlannedArrival(
                    tanker=tanker, gate=gate, trouble=None, gross_kg=round(gross, 1), waybill_no=tanker.waybill_no
                )
            )
            visit = self._visit(conn, tanker.plate, "inside", 90)
            if visit is None:
                queued = store.open_visit(conn, site, tanker.plate)
                if queued is not None:  # refused at the gate: the duty officer sends it away
                    lifecycle.close_by_officer(
                        conn,
                        queued.id,
                        by="simulator",
                        reason="入园检查未通过，车辆离开",
                        at=datetime.now(UTC),
                    )
                return
            route = StayRoute.for_bay(tanker.index)
            self._phase(tanker.plate, "in", plan.drive_s or StayRoute.seconds(route.inbound), route)
            self._phase(tanker.plate, "bay", plan.fill_s, route)
            lifecycle.close_waybill(
                conn, visit.id, operation="loaded", by="simulator", at=datetime.now(UTC), quantity_kg=CARGO_KG
            )
            self._phase(tanker.plate, "out", plan.drive_s or StayRoute.seconds(route.outbound), route)
            gross = TARE_KG + CARGO_KG + self.rng.uniform(-150, 150) + plan.overweight_kg
            self._publish(
                self.exit_devices["anpr_camera"], {"type": "plate", "plate": tanker.plate, "confidence": 0.97}
            )
            self.sim.stop.wait(1.0)
            self._publish(self.exit_devices["weighbridge"], {"type": "weight", "gross_kg": round(gross, 1)})
            if plan.overweight_kg:
                # Held at the barrier: the excess is pumped back, and it is weighed again.
                self.sim.stop.wait(self.rng.uniform(*self.reweigh_after_s))
                gross = TARE_KG + CARGO_KG + self.rng.uniform(-150, 150)
                self._publish(self.exit_devices["weighbridge"], {"type": "weight", "gross_kg": round(gross, 1)})
            deadline = time.monotonic() + 30
            while store.open_visit(conn, site, tanker.plate) is not None and time.monotonic() < deadline:
                self.sim.stop.wait(1.0)
            self.stays += 1
