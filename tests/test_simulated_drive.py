"""The simulator's tankers drive the demo park's roads: a normal tour breaks no rule on
positions, a speeding tour is caught on the ring road, a detour into the tank farm is caught by
the zone and stop rules (the demo's own rules, the pure engine, the demo layout)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from alerts.context import EngineContext
from alerts.engine import Transition, evaluate_all
from alerts.events import Event, Reading
from alerts.models import Rule, parse_rule
from alerts.state import EngineState
from hazgate.simulate.demo_layout import demo_layout, position_rules
from hazgate.simulate.drive import Driver, Fleet, Mishap, tour
from park.layout import build_layout, parse_layout

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SITE = "park1"
LAYOUT = build_layout(SITE, 1, parse_layout(demo_layout(SITE))[0][SITE])
CONTEXT = EngineContext.of({SITE: LAYOUT}, {"gps-0": "浙B00001"})
RULES: dict[str, Rule] = {str(i): parse_rule({**body, "site": SITE}) for i, body in enumerate(position_rules())}


def drive(mishap: Mishap, seed: int = 3) -> list[Transition]:
    rng = random.Random(seed)
    legs = tour(1, mishap, rng)
    driver = Driver(0, seed, 0.0, legs)
    fleet = Fleet(seed, 0)
    fleet.drivers = [driver]
    total = int(sum(leg.seconds for leg in legs))
    events: list[Event] = [
        Reading("gps-0", SITE, "gps_tracker", T0 + timedelta(seconds=s), fleet.reading(0, float(s), rng))
        for s in range(total)
    ]
    return evaluate_all(RULES, EngineState.empty(), events, CONTEXT)[1]


def fired(transitions: list[Transition]) -> list[tuple[str, str | float | list[str] | None]]:
    return [(t.rule_kind, t.details.get("zone_id")) for t in transitions if t.kind == "fire"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_normal_tour_breaks_no_rule(seed: int) -> None:
    assert fired(drive(None, seed)) == []


def test_a_speeding_tour_is_caught_on_the_ring_road() -> None:
    assert ("speeding", "ring-road") in fired(drive("speeding"))
    assert {kind for kind, _ in fired(drive("speeding"))} == {"speeding"}


def test_a_detour_into_the_tank_farm_is_caught_by_the_zone_and_the_stop_rules() -> None:
    assert set(fired(drive("tank_farm"))) == {("zone", "tank-farm"), ("stop", "tank-farm")}


def test_the_fleet_spreads_out_and_tours_go_on() -> None:
    fleet = Fleet(1, 6)
    rng = random.Random(1)
    first = {fleet.reading(i, 0.0, rng)["lat"] for i in range(6)}
    assert len(first) >= 5  # not all in one place
    late = fleet.reading(0, 10 * 3600.0, rng)
    assert LAYOUT.zones_at(late["lon"], late["lat"]) or late["lat"] < 29.95  # on a zone, or on the public road
    assert fleet.drivers[0].tour_no > 5
