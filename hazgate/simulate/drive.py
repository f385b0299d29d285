"""Tankers driving the demo park's roads (pure and seeded): what the simulator's GPS trackers report.

Each tanker does tours: it waits in the hazmat waiting lot outside the entry gate, drives in
through gate 1, along the ring road to the loading road, stands at its filling bay, leaves by
the central avenue and gate 2, and comes back round the public road to the lot. Speeds follow
each road's limit less a little; fixes carry a few metres of GPS noise.

Now and then a tour goes wrong, on purpose (the rules on positions should see it):
- ``speeding``: the ring road at 42 km/h (limit 30);
- ``tank_farm``: after filling, a detour up the tank-farm maintenance road and a 90-second stop
  inside the tank farm (a restricted zone where 60 s is the most).
Which tours do is drawn from the seed, so a run is repeatable.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Final, Literal

from hazgate.simulate.demo_layout import BAY_XS, CENTRE_LAT, CENTRE_LON, GATE_IN_X, GATE_OUT_X, LOADING_Y
from park.geometry import LocalFrame

Xy = tuple[float, float]
Mishap = Literal["speeding", "tank_farm"] | None

FRAME: Final = LocalFrame(CENTRE_LON, CENTRE_LAT)
# Chance per tour: enough that a demo of a quarter of an hour shows both with six tankers.
SPEEDING_CHANCE: Final = 0.2
TANK_FARM_CHANCE: Final = 0.12
GPS_NOISE_M: Final = 2.0
LOT: Final = (GATE_IN_X, -905.0)
PUBLIC_ROAD_Y: Final = -1040.0
# On the 30 km/h roads: their junctions with 20 km/h spurs count as the spur's (within half its
# width), so a tanker keeps under 20 + the demo's 5 km/h tolerance all along.
CRUISE_KMH: Final = 22.0


@dataclass(frozen=True, slots=True)
class Leg:
    """Drive from ``a`` to ``b`` at ``kmh``, or stand at ``a`` for ``stand_s`` (``kmh`` 0)."""

    a: Xy
    b: Xy
    kmh: float
    stand_s: float = 0.0

    @property
    def seconds(self) -> float:
        if self.stand_s:
            return self.stand_s
        return math.hypot(self.b[0] - self.a[0], self.b[1] - self.a[1]) / (self.kmh / 3.6)


def _path(points: list[Xy], kmh: float) -> list[Leg]:
    return [Leg(a, b, kmh) for a, b in itertools.pairwise(points)]


def tour(bay: int, mishap: Mishap, rng: random.Random) -> list[Leg]:
    """One tour of a tanker filling at bay ``bay`` (index into the demo's bays)."""
    bay_x = BAY_XS[bay % len(BAY_XS)]
    ring_kmh = 42.0 if mishap == "speeding" else CRUISE_KMH
    legs = [
        Leg(LOT, LOT, 0, stand_s=rng.uniform(40, 120)),  # waiting to be called in
        *_path([LOT, (GATE_IN_X, -780.0)], 9),  # across the lot (10 km/h)
        *_path([(GATE_IN_X, -780.0), (GATE_IN_X, -720.0)], 4),  # through gate 1 (5 km/h)
        *_path([(GATE_IN_X, -720.0), (GATE_IN_X, -550.0)], 17),  # entry spur (20 km/h)
        *_path([(GATE_IN_X, -550.0), (-700.0, -550.0), (-700.0, LOADING_Y)], ring_kmh),  # ring road
        *_path([(-700.0, LOADING_Y), (bay_x, LOADING_Y)], 17),  # loading road
        *_path([(bay_x, LOADING_Y), (bay_x, LOADING_Y + 37)], 4),  # into the bay
        Leg((bay_x, LOADING_Y + 37), (bay_x, LOADING_Y + 37), 0, stand_s=rng.uniform(120, 240)),  # filling
        *_path([(bay_x, LOADING_Y + 37), (bay_x, LOADING_Y)], 4),
        *_path([(bay_x, LOADING_Y), (0.0, LOADING_Y)], 17),
    ]
    if mishap == "tank_farm":
        farm = (-370.0, 160.0)
        legs += [
            *_path([(0.0, LOADING_Y), (0.0, -20.0)], CRUISE_KMH),  # the avenue north
            *_path([(0.0, -20.0), (-370.0, -20.0)], CRUISE_KMH),  # the cross road west
            *_path([(-370.0, -20.0), farm], 12),  # the tank-farm maintenance road
            Leg(farm, farm, 0, stand_s=90),  # standing inside the tank farm
            *_path([farm, (-370.0, -20.0)], 12),
            *_path([(-370.0, -20.0), (0.0, -20.0), (0.0, LOADING_Y)], CRUISE_KMH),
        ]
    legs += [
        *_path([(0.0, LOADING_Y), (0.0, -550.0)], CRUISE_KMH),  # the avenue south
        *_path([(0.0, -550.0), (GATE_OUT_X, -550.0)], CRUISE_KMH),  # ring road east
        *_path([(GATE_OUT_X, -550.0), (GATE_OUT_X, -720.0)], 17),  # exit spur
        *_path([(GATE_OUT_X, -720.0), (GATE_OUT_X, -780.0)], 4),  # through gate 2
        *_path([(GATE_OUT_X, -780.0), (GATE_OUT_X, -830.0)], 17),  # the spur's end outside the gate
        # Out, and round the public road back into the lot.
        *_path(
            [(GATE_OUT_X, -830.0), (GATE_OUT_X, PUBLIC_ROAD_Y), (GATE_IN_X, PUBLIC_ROAD_Y), (GATE_IN_X, -990.0)], 38
        ),
        *_path([(GATE_IN_X, -990.0), LOT], 8),
    ]
    return legs


@dataclass
class Driver:
    """One tanker's tours, drawn one after another as time goes on."""

    index: int
    seed: int
    started_at: float
    legs: list[Leg]
    tour_no: int = 0
    mishap: Mishap = None

    @classmethod
    def start(cls, index: int, seed: int, phase: float) -> Driver:
        """``phase`` (0..1): how far into its first tour the tanker is at t = 0, so the tankers spread out."""
        driver = cls(index, seed, 0.0, [])
        driver._next_tour(0.0)
        length = sum(leg.seconds for leg in driver.legs)
        driver.started_at = -phase * length
        return driver

    def _next_tour(self, at: float) -> None:
        rng = random.Random(self.seed * 100_003 + self.index * 1_009 + self.tour_no)
        draw = rng.random()
        self.mishap = "speeding" if draw < SPEEDING_CHANCE else "tank_farm" if draw > 1 - TANK_FARM_CHANCE else None
        self.legs = tour(self.index, self.mishap, rng)
        self.started_at = at
        self.tour_no += 1

    def where(self, t: float) -> tuple[Xy, float]:
        """Position (metres about the park's centre) and speed at simulation time ``t``."""
        elapsed = t - self.started_at
        while True:
            for leg in self.legs:
                if elapsed < leg.seconds:
                    if leg.stand_s:
                        return leg.a, 0.0
                    f = elapsed / leg.seconds
                    return (leg.a[0] + f * (leg.b[0] - leg.a[0]), leg.a[1] + f * (leg.b[1] - leg.a[1])), leg.kmh
                elapsed -= leg.seconds
            self._next_tour(t - elapsed)
            elapsed = t - self.started_at


class Fleet:
    """The drivers of a simulated park's tankers."""

    def __init__(self, seed: int, tankers: int) -> None:
        self.drivers = [Driver.start(i, seed, i / max(tankers, 1)) for i in range(tankers)]

    def reading(self, index: int, t: float, rng: random.Random) -> dict[str, float]:
        """A GPS tracker reading of tanker ``index`` at simulation time ``t``: lat, lon, speed_kmh."""
        (x, y), kmh = self.drivers[index].where(t)
        lon, lat = FRAME.to_lonlat(x + rng.gauss(0, GPS_NOISE_M), y + rng.gauss(0, GPS_NOISE_M))
        speed = max(0.0, kmh + rng.gauss(0, 0.8)) if kmh else abs(rng.gauss(0, 0.4))
        return {"lat": round(lat, 7), "lon": round(lon, 7), "speed_kmh": round(speed, 1)}
