"""The demo park's layout, drawn in metres and written as GeoJSON (what `make run` imports).

A chemical park of about 2 km by 1.5 km near Ningbo's Zhenhai petrochemical zone: a fence, a
ring road (30 km/h) with a central avenue and a cross road, 20 km/h spurs to the gates and the
loading station, a hazmat waiting lot outside the entry gate, four filling bays, restricted
areas (the tank farm, a process unit, a dangerous-goods warehouse) and three assembly points.
Metres east (x) and north (y) of the park's centre; :func:`demo_layout` converts to WGS-84.
"""

from __future__ import annotations

from typing import Any, Final

from park.geometry import LocalFrame

# The park's centre: the same place the simulator's trackers have always driven around.
CENTRE_LON, CENTRE_LAT = 121.712, 29.958

Xy = tuple[float, float]


def _box(x0: float, y0: float, x1: float, y1: float) -> list[Xy]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


# (zone_id, kind, name, polygon or line, extra properties). Polygons are closed rings.
BOUNDARY: Final[list[Xy]] = [(-1000, -750), (1000, -750), (1000, 600), (850, 750), (-1000, 750), (-1000, -750)]
RING: Final[list[Xy]] = [(-700, -550), (700, -550), (700, 500), (-700, 500), (-700, -550)]
GATE_IN_X, GATE_OUT_X = -600.0, 600.0
LOADING_Y: Final = -300.0
BAY_XS: Final = (-560.0, -460.0, -360.0, -260.0)

ZONES: Final[list[tuple[str, str, str, list[Xy], dict[str, Any]]]] = [
    ("park", "park_boundary", "镇海石化园区（演示）", BOUNDARY, {"speed_limit_kmh": 30, "max_stop_s": 600}),
    ("ring-road", "road", "环园路", RING, {"width_m": 14, "speed_limit_kmh": 30}),
    ("avenue", "road", "中央大道", [(0, -550), (0, 500)], {"width_m": 12, "speed_limit_kmh": 30}),
    ("cross-road", "road", "纬一路", [(-700, -20), (700, -20)], {"width_m": 10, "speed_limit_kmh": 30}),
    (
        "entry-spur",
        "road",
        "1号门进场道",
        [(GATE_IN_X, -905), (GATE_IN_X, -550)],
        {"width_m": 10, "speed_limit_kmh": 20},
    ),
    (
        "exit-spur",
        "road",
        "2号门出场道",
        [(GATE_OUT_X, -550), (GATE_OUT_X, -820)],
        {"width_m": 10, "speed_limit_kmh": 20},
    ),
    ("loading-road", "road", "装卸区支路", [(-700, LOADING_Y), (0, LOADING_Y)], {"width_m": 10, "speed_limit_kmh": 20}),
    ("tankfarm-road", "road", "罐区检修道", [(-370, -20), (-370, 180)], {"width_m": 8, "speed_limit_kmh": 15}),
    ("gate1", "gate", "1号门（入口）", _box(-640, -775, -560, -725), {"gate_id": "gate1", "speed_limit_kmh": 5}),
    ("gate2", "gate", "2号门（出口）", _box(560, -775, 640, -725), {"gate_id": "gate2", "speed_limit_kmh": 5}),
    ("waiting-lot", "parking", "危化品车辆待检停车场", _box(-780, -980, -420, -830), {"speed_limit_kmh": 10}),
    *[
        (
            f"bay-a{i + 1}",
            "filling_bay",
            f"装卸车位 A{i + 1}",
            _box(x - 18, LOADING_Y + 12, x + 18, LOADING_Y + 62),
            {"speed_limit_kmh": 5, "max_stop_s": 3600},
        )
        for i, x in enumerate(BAY_XS)
    ],
    (
        "tank-farm",
        "restricted",
        "罐区（禁止停留）",
        _box(-640, 60, -120, 440),
        {"speed_limit_kmh": 15, "max_stop_s": 60},
    ),
    ("process-unit", "restricted", "丙烯装置区", _box(120, 120, 580, 420), {"max_stop_s": 60}),
    ("warehouse", "restricted", "危险品仓库", _box(200, -460, 460, -250), {"max_stop_s": 120}),
    ("assembly-1", "assembly_point", "1号应急集合点", _box(-470, -710, -380, -640), {}),
    ("assembly-2", "assembly_point", "2号应急集合点", _box(-80, 580, 40, 680), {}),
    ("assembly-3", "assembly_point", "3号应急集合点", _box(780, -40, 900, 80), {}),
]


def demo_layout(site: str = "park1", lon: float = CENTRE_LON, lat: float = CENTRE_LAT) -> dict[str, Any]:
    """The demo park as a GeoJSON FeatureCollection (WGS-84 lon/lat, 7 decimals: ~1 cm)."""
    frame = LocalFrame(lon, lat)

    def position(p: Xy) -> list[float]:
        lon_, lat_ = frame.to_lonlat(*p)
        return [round(lon_, 7), round(lat_, 7)]

    features = []
    for zone_id, kind, name, shape, extra in ZONES:
        closed = len(shape) > 2 and shape[0] == shape[-1]
        is_line = kind == "road" and "width_m" in extra
        coords = [position(p) for p in shape]
        geometry = (
            {"type": "LineString", "coordinates": coords} if is_line else {"type": "Polygon", "coordinates": [coords]}
        )
        assert is_line or closed, zone_id
        props = {"site": site, "zone_id": zone_id, "kind": kind, "name": name, **extra}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    return {"type": "FeatureCollection", "features": features}


def position_rules() -> list[dict[str, Any]]:
    """The default rule set's rules on positions (hazgate/data/default_rules.json: speeding,
    restricted zone, stop, off route), as rule bodies without a site."""
    from alerts.models import POSITION_RULE_KINDS
    from hazgate.rules import load_default_rules

    return [dict(d.rule) for d in load_default_rules().rules if d.rule.get("kind") in POSITION_RULE_KINDS]


def ensure_demo_layout(conninfo: str, site: str) -> str:
    """Import the demo layout unless the site's current version already is it; says what it did.
    Its rules on positions come with the default rule set (`hazgate rules install-defaults`)."""
    from park.store import import_layout

    result = import_layout(conninfo, demo_layout(site), imported_by="make run", skip_unchanged=True)
    stored = result["sites"][0]
    state = "unchanged" if stored["unchanged"] else "imported"
    return f"park layout of {site}: version {stored['version']} ({stored['zones']} zones, {state})"
