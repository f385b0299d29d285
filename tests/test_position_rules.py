"""Rules on positions, pure: a tracker's readings against a small park's layout.

The park (metres about its centre): a fence of 1 km, a main road along y = 0 (a line 10 m wide,
30 km/h), a side road x = 300 (20 km/h), a restricted tank farm beside the main road (stop at most
60 s), a second restricted area next to it, a filling bay (an hour) and a waiting lot (no limit).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.context import EngineContext
from alerts.engine import Transition, evaluate_all
from alerts.events import Event, Reading
from alerts.lifecycle import open_alert
from alerts.models import OffRouteRule, Rule, SpeedingRule, StopRule, ZoneRule, parse_rule
from alerts.payload import alert_body
from alerts.state import EngineState
from park.geometry import LocalFrame
from park.layout import build_layout, parse_layout

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
FRAME = LocalFrame(121.712, 29.958)
PLATE = "浙B12345"
TRACKER = "GPS-7"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _ring(x0: float, y0: float, x1: float, y1: float) -> list[list[list[float]]]:
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return [[list(FRAME.to_lonlat(x, y)) for x, y in corners]]


def _zone(zone_id: str, kind: str, coords: Any, gtype: str = "Polygon", **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"site": "north", "zone_id": zone_id, "kind": kind, "name": zone_id.title(), **props},
        "geometry": {"type": gtype, "coordinates": coords},
    }


def _line(*points: tuple[float, float]) -> list[list[float]]:
    return [list(FRAME.to_lonlat(x, y)) for x, y in points]


PARK = {
    "type": "FeatureCollection",
    "features": [
        _zone("fence", "park_boundary", _ring(-500, -500, 500, 500)),
        _zone("main-road", "road", _line((-500, 0), (500, 0)), "LineString", width_m=10, speed_limit_kmh=30),
        _zone("side-road", "road", _line((300, 0), (300, 400)), "LineString", width_m=8, speed_limit_kmh=20),
        _zone("tank-farm", "restricted", _ring(0, 20, 200, 200), max_stop_s=60),
        _zone("unit", "restricted", _ring(200, 20, 280, 200)),
        _zone("bay", "filling_bay", _ring(-300, 10, -250, 60), max_stop_s=3600, speed_limit_kmh=5),
        _zone("lot", "parking", _ring(-450, -200, -350, -100)),
    ],
}
zones, problems = parse_layout(PARK)
assert problems == [], problems
CONTEXT = EngineContext.of({"north": build_layout("north", 3, zones["north"])}, {TRACKER: PLATE})

ON_ROAD = (-100.0, 2.0)
IN_FARM = (100.0, 100.0)
IN_UNIT = (240.0, 100.0)
IN_BAY = (-275.0, 35.0)
IN_LOT = (-400.0, -150.0)
OFF_ROAD = (-100.0, -200.0)
OUTSIDE = (800.0, 0.0)


def gps(s: float, where: tuple[float, float], kmh: float | None = 20.0, device: str = TRACKER, **kw: Any) -> Reading:
    lon, lat = FRAME.to_lonlat(*where)
    values = {"lat": lat, "lon": lon} if kmh is None else {"lat": lat, "lon": lon, "speed_kmh": kmh}
    return Reading(device, kw.get("site", "north"), kw.get("device_type", "gps_tracker"), at(s), values)


def rule(kind: str, **body: Any) -> Rule:
    return parse_rule({"name": f"{kind} rule", "kind": kind, "severity": "warning", **body})


def run(rules: dict[str, Rule], events: list[Event], context: EngineContext = CONTEXT) -> list[Transition]:
    return evaluate_all(rules, EngineState.empty(), events, context)[1]


def kinds(transitions: list[Transition]) -> list[str]:
    return [t.kind for t in transitions]


# --- rule bodies ----------------------------------------------------------------------------------


def test_contract_bodies_of_position_rules_are_accepted_as_written() -> None:
    assert isinstance(rule("zone", zone_kinds=["restricted"]), ZoneRule)
    assert isinstance(rule("speeding", tolerance_kmh=5), SpeedingRule)
    assert isinstance(rule("stop"), StopRule)
    assert isinstance(rule("off_route"), OffRouteRule)


def test_a_zone_rule_needs_zone_kinds_that_exist_and_not_the_whole_park() -> None:
    with pytest.raises(ValidationError, match="zone_kinds"):
        rule("zone", zone_kinds=[])
    with pytest.raises(ValidationError, match="restricted"):
        rule("zone", zone_kinds=["tank_farm"])
    with pytest.raises(ValidationError, match="holds every tracked vehicle"):
        rule("zone", zone_kinds=["park_boundary"])
    with pytest.raises(ValidationError, match="tolerance_kmh"):
        rule("speeding", tolerance_kmh=-1)


# --- speeding ---------------------------------------------------------------------------------------


def test_a_speeding_tanker_raises_one_alert_with_plate_and_road_and_resolves_at_the_limit() -> None:
    rules = {"r1": rule("speeding", tolerance_kmh=5)}
    out = run(
        rules,
        [
            gps(0, ON_ROAD, 28),
            gps(1, ON_ROAD, 34),  # within the tolerance
            gps(2, ON_ROAD, 41),
            gps(3, ON_ROAD, 39),  # still over, not faster: nothing new
            gps(4, ON_ROAD, 47),  # a new top speed
            gps(5, ON_ROAD, 33),  # between limit and tolerance: holds
            gps(6, ON_ROAD, 29),
        ],
    )
    assert kinds(out) == ["fire", "update", "resolve"]
    fired = out[0]
    assert (fired.subject, fired.metric, fired.value) == (TRACKER, "speed_kmh", 41)
    assert fired.details["plate"] == PLATE and fired.details["zone_id"] == "main-road"
    assert fired.details["speed_limit_kmh"] == 30 and fired.details["layout_version"] == 3
    assert PLATE in fired.summary and "limit 30 km/h" in fired.summary
    assert out[1].value == 47 and not out[1].repeat
    body = alert_body(open_alert(fired))
    assert body["plate"] == PLATE and body["zone_id"] == "main-road"


def test_the_lowest_limit_of_the_zones_a_tanker_is_in_applies() -> None:
    # At the junction of the main road (30) and the side road (20), 25 km/h is too fast.
    out = run({"r1": rule("speeding")}, [gps(0, (300, 3), 25)])
    assert kinds(out) == ["fire"] and out[0].details["zone_id"] == "side-road"


def test_speeding_must_last_for_s_and_a_reading_without_speed_changes_nothing() -> None:
    rules = {"r1": rule("speeding", for_s=3)}
    out = run(rules, [gps(0, ON_ROAD, 45), gps(1, ON_ROAD, None), gps(2, ON_ROAD, 45), gps(3, ON_ROAD, 46)])
    assert kinds(out) == ["fire"] and out[0].ts == at(3)
    assert run(rules, [gps(0, ON_ROAD, 45), gps(2, ON_ROAD, 25), gps(4, ON_ROAD, 45)]) == []


# --- zones -----------------------------------------------------------------------------------------


def test_a_tanker_entering_a_restricted_zone_is_alerted_and_resolved_when_it_leaves() -> None:
    rules = {"z": rule("zone", zone_kinds=["restricted"])}
    out = run(rules, [gps(0, ON_ROAD), gps(1, IN_FARM), gps(2, IN_FARM), gps(3, IN_UNIT), gps(4, ON_ROAD)])
    assert kinds(out) == ["fire", "update", "resolve"]
    assert out[0].details["zone_id"] == "tank-farm" and out[0].details["zone_kind"] == "restricted"
    assert out[1].repeat and out[1].details["zone_id"] == "unit"
    assert out[2].reason == "left_zone"


def test_a_zone_rule_ignores_other_kinds_sites_device_types_and_readings_without_a_position() -> None:
    rules = {"z": rule("zone", zone_kinds=["filling_bay"])}
    assert run(rules, [gps(0, IN_FARM)]) == []
    assert run(rules, [gps(0, IN_BAY, site="south")]) == []  # no layout for that site
    assert run(rules, [gps(0, IN_BAY, device_type="tank_sensor")]) == []
    no_fix = Reading(TRACKER, "north", "gps_tracker", at(0), {"speed_kmh": 10.0})
    assert run(rules, [no_fix]) == []
    assert kinds(run(rules, [gps(0, IN_BAY)])) == ["fire"]
    assert run(rules, [gps(0, IN_BAY)], EngineContext()) == []  # no layouts at all


def test_a_redelivered_or_older_reading_is_not_judged_again() -> None:
    rules = {"z": rule("zone", zone_kinds=["restricted"])}
    out = run(rules, [gps(0, IN_FARM), gps(5, IN_FARM), gps(3, ON_ROAD), gps(5, ON_ROAD)])
    assert kinds(out) == ["fire"]


# --- stops ----------------------------------------------------------------------------------------------


def test_a_tanker_stopping_in_the_tank_farm_longer_than_its_limit_is_alerted_until_it_moves() -> None:
    rules = {"s": rule("stop")}
    events: list[Event] = [gps(s, IN_FARM, 0.8) for s in range(0, 80, 10)]  # 60 s is not yet too long
    events.append(gps(75, IN_FARM, 12))
    out = run(rules, events)
    assert kinds(out) == ["fire", "resolve"]
    fired = out[0]
    assert fired.ts == at(70)
    assert fired.details["zone_id"] == "tank-farm" and fired.details["max_stop_s"] == 60
    assert fired.details["plate"] == PLATE and fired.value is not None and fired.value > 60
    assert out[1].reason == "moving"


def test_standing_at_a_filling_bay_or_in_the_waiting_lot_is_fine_but_not_on_the_road() -> None:
    rules = {"s": rule("stop")}
    assert run(rules, [gps(s, IN_BAY, 0) for s in range(0, 3000, 60)]) == []  # within the bay's hour
    assert run(rules, [gps(s, IN_LOT, 0) for s in range(0, 7200, 60)]) == []  # no limit in the lot
    assert run(rules, [gps(s, OUTSIDE, 0) for s in range(0, 7200, 60)]) == []  # not in the park
    out = run(rules, [gps(s, ON_ROAD, 1.0) for s in range(0, 700, 60)])
    assert kinds(out) == ["fire"]
    assert out[0].details["zone_id"] == "main-road" and out[0].details["max_stop_s"] == 600  # site default


def test_gps_jitter_below_the_stopped_speed_still_counts_as_standing() -> None:
    out = run(
        {"s": rule("stop", stopped_below_kmh=4)}, [gps(s, IN_FARM, 3.5 if s % 20 else 1) for s in range(0, 80, 10)]
    )
    assert kinds(out) == ["fire"]


# --- off route -------------------------------------------------------------------------------------------


def test_a_tanker_off_every_road_and_lot_inside_the_park_is_off_route_until_it_returns() -> None:
    rules = {"o": rule("off_route", for_s=10)}
    out = run(rules, [gps(0, ON_ROAD), gps(1, OFF_ROAD), gps(6, OFF_ROAD), gps(11, OFF_ROAD), gps(12, ON_ROAD)])
    assert kinds(out) == ["fire", "resolve"]
    assert out[0].ts == at(11) and out[0].details["zone_id"] is None and out[0].details["plate"] == PLATE
    inside_farm = run(rules, [gps(0, IN_FARM), gps(10, IN_FARM)])
    assert kinds(inside_farm) == ["fire"] and inside_farm[0].details["zone_id"] == "tank-farm"
    assert run(rules, [gps(0, OUTSIDE), gps(20, OUTSIDE)]) == []  # outside the fence is not our road
    assert run(rules, [gps(0, IN_LOT), gps(20, IN_BAY)]) == []


def test_position_state_survives_a_save_and_load() -> None:
    rules = {"r": rule("speeding"), "s": rule("stop")}
    state, out = evaluate_all(rules, EngineState.empty(), [gps(0, IN_FARM, 0), gps(1, ON_ROAD, 2)], CONTEXT)
    assert out == []  # standing since 0 s, moved out onto the road still slow
    restored = EngineState.from_json(state.to_json())
    assert restored == state
    assert restored.subject("s", TRACKER) is not None
    events: list[Event] = [gps(62, IN_FARM, 0), gps(63, ON_ROAD, 45), gps(64, ON_ROAD, 50)]
    state, later = evaluate_all(rules, restored, events, CONTEXT)
    assert [(t.rule_id, t.kind) for t in later] == [("s", "fire"), ("r", "fire"), ("s", "resolve"), ("r", "update")]
    speeding = EngineState.from_json(state.to_json()).subject("r", TRACKER)
    assert speeding is not None and speeding.peak == 50 and speeding.zone_id == "main-road"
