"""The park layout, pure: geometry on a park's scale, GeoJSON validated feature by feature, and
"which zones is this vehicle in". The demo park's layout is checked like any imported file."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from hazgate.simulate.demo_layout import CENTRE_LAT, CENTRE_LON, demo_layout
from park.geometry import (
    LocalFrame,
    distance_to_polyline,
    haversine_m,
    point_in_polygon,
    ring_area_m2,
    ring_self_crossing,
)
from park.layout import DEFAULT_MAX_STOP_S, ZoneKind, build_layout, content_hash, parse_layout

FRAME = LocalFrame(CENTRE_LON, CENTRE_LAT)


def lonlat(x: float, y: float) -> tuple[float, float]:
    return FRAME.to_lonlat(x, y)


def feature(zone_id: str, kind: str, coords: Any, gtype: str = "Polygon", **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"site": "north", "zone_id": zone_id, "kind": kind, "name": zone_id, **props},
        "geometry": {"type": gtype, "coordinates": coords},
    }


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[list[float]]]:
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return [[list(lonlat(x, y)) for x, y in ring]]


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


BOUNDARY = feature("fence", "park_boundary", box(-500, -500, 500, 500))


# --- geometry -----------------------------------------------------------------------------------


def test_haversine_gives_a_kilometre_of_latitude_as_about_1112_m_per_hundredth_of_a_degree() -> None:
    assert haversine_m(121.7, 29.95, 121.7, 29.96) == pytest.approx(1111.95, abs=0.5)
    # A degree of longitude shrinks with cos(latitude).
    assert haversine_m(121.70, 29.95, 121.71, 29.95) == pytest.approx(1111.95 * math.cos(math.radians(29.95)), rel=1e-3)


def test_the_local_frame_agrees_with_haversine_within_a_metre_across_the_park() -> None:
    for x, y in [(1000, 0), (0, 750), (-1000, -750), (1000, 750)]:
        lon, lat = FRAME.to_lonlat(x, y)
        assert haversine_m(CENTRE_LON, CENTRE_LAT, lon, lat) == pytest.approx(math.hypot(x, y), abs=1.0)
        back = FRAME.to_xy(lon, lat)
        assert back == pytest.approx((x, y), abs=1e-6)


def test_a_point_in_a_polygon_s_hole_is_outside_it() -> None:
    outer = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)]
    hole = [(4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0), (4.0, 4.0)]
    assert point_in_polygon(2, 2, [outer, hole])
    assert not point_in_polygon(5, 5, [outer, hole])
    assert not point_in_polygon(11, 5, [outer])
    assert ring_area_m2(outer) == 100.0


def test_distance_to_a_road_s_centre_line_is_measured_to_the_nearest_segment() -> None:
    line = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0)]
    assert distance_to_polyline(50, 4, line) == pytest.approx(4.0)
    assert distance_to_polyline(104, 50, line) == pytest.approx(4.0)
    assert distance_to_polyline(-3, -4, line) == pytest.approx(5.0)


def test_a_bow_tie_ring_is_found_crossing_itself() -> None:
    bow_tie = [(0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0), (0.0, 0.0)]
    assert ring_self_crossing(bow_tie) == (0, 2)
    assert ring_self_crossing([(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 0.0)]) is None


# --- validation ---------------------------------------------------------------------------------


def test_the_demo_park_is_a_valid_layout_at_plausible_scale() -> None:
    zones, problems = parse_layout(demo_layout())
    assert problems == []
    park = zones["park1"]
    kinds = {k: sum(z.kind is k for z in park) for k in ZoneKind}
    assert kinds[ZoneKind.PARK_BOUNDARY] == 1 and kinds[ZoneKind.GATE] == 2 and kinds[ZoneKind.PARKING] == 1
    assert kinds[ZoneKind.FILLING_BAY] >= 3 and kinds[ZoneKind.RESTRICTED] >= 2 and kinds[ZoneKind.ASSEMBLY_POINT] >= 2
    layout = build_layout("park1", 1, park)
    assert layout.boundary is not None
    b = layout.boundary.bbox
    assert 1800 <= b.max_x - b.min_x <= 2200 and 1300 <= b.max_y - b.min_y <= 1700  # ~2 km x 1.5 km
    limits = {z.speed_limit_kmh for z in layout.zones if z.kind is ZoneKind.ROAD}
    assert limits <= {15, 20, 30} and {20, 30} <= limits


def test_every_bad_feature_is_named_with_its_index_zone_and_reason() -> None:
    open_ring = box(0, 0, 50, 50)
    open_ring[0] = open_ring[0][:-1]
    swapped = [[[lat, lon] for lon, lat in box(0, 0, 20, 20)[0]]]
    bow = [[list(lonlat(x, y)) for x, y in [(0, 0), (50, 50), (50, 0), (0, 50), (0, 0)]]]
    doc = collection(
        BOUNDARY,
        feature("lake", "pond", box(0, 0, 10, 10)),
        feature("yard", "parking", open_ring),
        feature("farm", "restricted", [list(lonlat(0, 0)), list(lonlat(100, 0))], "LineString"),
        feature("lane", "road", [list(lonlat(0, 0)), list(lonlat(100, 0))], "LineString"),
        feature("bow", "filling_bay", bow),
        feature("swap", "restricted", swapped),
        feature("fast", "road", box(0, 0, 10, 100), speed_limit_kmh=300),
        feature("fence", "restricted", box(100, 100, 110, 110)),
        feature("g1", "gate", box(-10, -510, 10, -490)),
    )
    _, problems = parse_layout(doc)
    found = {(p.feature, p.zone_id, p.code) for p in problems}
    assert found == {
        (1, "lake", "unknown_kind"),
        (2, "yard", "ring_not_closed"),
        (3, "farm", "bad_geometry_type"),
        (4, "lane", "width_missing"),
        (5, "bow", "self_intersecting"),
        (6, "swap", "bad_coordinates"),
        (7, "fast", "bad_speed_limit_kmh"),
        (8, "fence", "duplicate_zone_id"),
        (9, "g1", "bad_gate_id"),
    }
    messages = {p.code: p.message for p in problems}
    assert "pond" in messages["unknown_kind"] and "restricted" in messages["unknown_kind"]
    assert "width_m" in messages["width_missing"]
    assert "WGS-84" in messages["bad_coordinates"]
    assert all(p.severity == "error" for p in problems)


def test_a_site_without_a_boundary_and_a_file_that_is_not_geojson_are_refused() -> None:
    _, problems = parse_layout(collection(feature("yard", "parking", box(0, 0, 50, 50))))
    assert [(p.code, p.site) for p in problems] == [("boundary_missing", "north")]
    _, problems = parse_layout({"type": "Feature"})
    assert [p.code for p in problems] == ["not_feature_collection"]
    _, problems = parse_layout({**collection(BOUNDARY), "crs": {"properties": {"name": "EPSG:3857"}}})
    assert [p.code for p in problems] == ["bad_crs"]


def test_a_feature_in_another_country_is_too_far_for_the_site() -> None:
    far = feature("far", "restricted", [[[2.35, 48.85], [2.36, 48.85], [2.36, 48.86], [2.35, 48.85]]])
    _, problems = parse_layout(collection(BOUNDARY, far))
    assert any(p.code == "too_far" and p.zone_id == "far" for p in problems)


def test_a_filling_bay_outside_the_fence_is_a_warning_but_a_waiting_lot_there_is_normal() -> None:
    doc = collection(
        BOUNDARY,
        feature("bay", "filling_bay", box(600, 0, 650, 40)),
        feature("lot", "parking", box(-100, -700, 100, -600)),
    )
    zones, problems = parse_layout(doc)
    assert [(p.zone_id, p.code, p.severity) for p in problems] == [("bay", "outside_boundary", "warning")]
    assert len(zones["north"]) == 3


def test_extra_properties_are_kept_and_equal_layouts_hash_equal() -> None:
    doc = collection(BOUNDARY, feature("farm", "restricted", box(0, 0, 50, 50), stored_un="UN1077", fill="#f00"))
    zones, problems = parse_layout(doc)
    assert problems == []
    farm = zones["north"][1]
    assert farm.feature()["properties"]["stored_un"] == "UN1077"
    again, _ = parse_layout(copy.deepcopy(doc))
    assert content_hash(zones["north"]) == content_hash(again["north"])


# --- where is the vehicle ------------------------------------------------------------------------


def test_zones_at_a_point_list_the_most_specific_zone_first() -> None:
    layout = build_layout("park1", 1, parse_layout(demo_layout())[0]["park1"])
    x, y = -460.0, -300.0 + 30  # in filling bay A2, beside the loading road
    ids = [z.zone_id for z in layout.zones_at(*lonlat(x, y))]
    assert ids[0] == "bay-a2" and ids[-1] == "park"
    on_ring = [z.zone_id for z in layout.zones_at(*lonlat(200, -553))]  # 3 m off the ring's centre line
    assert on_ring == ["ring-road", "park"]
    assert [z.zone_id for z in layout.zones_at(*lonlat(200, -570))] == ["park"]  # beside the road: off route
    assert layout.zones_at(*lonlat(3000, 0)) == ()
    assert layout.default_max_stop_s == 600 == DEFAULT_MAX_STOP_S
