"""A park's layout: GeoJSON in, validated zones out, and the question "where is this vehicle?".

:func:`parse_layout` reads a GeoJSON FeatureCollection (WGS-84 lon/lat, as CONTRACT.md's "Park
layout" says) and returns, per site, the validated zones and every problem found, each naming
the feature (its index and ``zone_id``), a reason code and what to fix. :func:`build_layout`
turns a site's zones into a :class:`Layout`: frozen, in metres about the park's own reference
point, with a bounding box per zone so most zones are ruled out by four comparisons.

Pure: standard library and the geometry module only.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal

from park.geometry import (
    BBox,
    LocalFrame,
    Point,
    Ring,
    distance_to_polyline,
    haversine_m,
    point_in_polygon,
    point_in_ring,
    polyline_length_m,
    ring_area_m2,
    ring_self_crossing,
)


class ZoneKind(StrEnum):
    PARK_BOUNDARY = "park_boundary"
    ROAD = "road"
    PARKING = "parking"  # the hazmat waiting lot
    FILLING_BAY = "filling_bay"
    RESTRICTED = "restricted"
    GATE = "gate"
    ASSEMBLY_POINT = "assembly_point"


ZONE_KINDS: Final = tuple(k.value for k in ZoneKind)
# Where a vehicle may drive or stand: off_route is "inside the park, in none of these".
ROUTE_KINDS: Final = frozenset({ZoneKind.ROAD, ZoneKind.PARKING, ZoneKind.FILLING_BAY, ZoneKind.GATE})
# Where a vehicle may stand as long as the zone allows: no site-wide stop limit applies there.
STANDING_KINDS: Final = frozenset({ZoneKind.PARKING, ZoneKind.FILLING_BAY})

# A vehicle standing anywhere else for longer than this is reported by a stop rule, unless the
# park boundary's max_stop_s says otherwise: ten minutes covers a wait at a junction or a
# loading queue, not a breakdown or a driver's rest in a road.
DEFAULT_MAX_STOP_S: Final = 600.0
# Limits on properties: beyond them a value is a typo (km/h for m/s, hours for seconds).
MAX_SPEED_LIMIT_KMH: Final = 120.0
MAX_STOP_LIMIT_S: Final = 7 * 86400.0
MAX_WIDTH_M: Final = 200.0
MIN_AREA_M2: Final = 1.0
# Every point of a site lies within this of the site's centre: further means swapped lon/lat,
# projected coordinates, or a feature meant for another park.
MAX_EXTENT_M: Final = 30_000.0

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KNOWN_PROPERTIES: Final = frozenset(
    {"site", "zone_id", "kind", "name", "speed_limit_kmh", "max_stop_s", "gate_id", "width_m"}
)

GeometryType = Literal["Polygon", "LineString"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the file: ``feature`` is the index in ``features`` (None: the file)."""

    code: str
    message: str
    feature: int | None = None
    zone_id: str | None = None
    site: str | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = "file" if self.feature is None else f"feature {self.feature}"
        if self.zone_id:
            where += f" ({self.zone_id})"
        return f"{where}: {self.code}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "zone_id": self.zone_id,
            "site": self.site,
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
        }


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A validated feature, still in WGS-84 degrees: what is stored and served back as GeoJSON.

    ``coordinates``: a Polygon's rings (outer first), or a LineString's one line.
    ``extra``: other properties of the feature, kept as they came (a stroke colour from an editor,
    a stored substance for emergency response).
    """

    site: str
    zone_id: str
    kind: ZoneKind
    name: str
    geometry_type: GeometryType
    coordinates: tuple[Ring, ...]
    speed_limit_kmh: float | None = None
    max_stop_s: float | None = None
    gate_id: str | None = None
    width_m: float | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = dict(self.extra)
        props.update({"site": self.site, "zone_id": self.zone_id, "kind": self.kind.value, "name": self.name})
        for key in ("speed_limit_kmh", "max_stop_s", "gate_id", "width_m"):
            value = getattr(self, key)
            if value is not None:
                props[key] = value
        return props

    def geometry(self) -> dict[str, Any]:
        coords: list[Any] = [[list(p) for p in ring] for ring in self.coordinates]
        if self.geometry_type == "LineString":
            return {"type": "LineString", "coordinates": coords[0]}
        return {"type": "Polygon", "coordinates": coords}

    def feature(self) -> dict[str, Any]:
        return {"type": "Feature", "properties": self.properties(), "geometry": self.geometry()}


def feature_collection(zones: Iterable[ZoneSpec], **members: Any) -> dict[str, Any]:
    """GeoJSON of zones; ``members`` are added at the top (foreign members: site, version)."""
    return {"type": "FeatureCollection", **members, "features": [z.feature() for z in zones]}


def content_hash(zones: Sequence[ZoneSpec]) -> str:
    """SHA-256 of the zones' canonical GeoJSON: equal layouts have equal hashes."""
    text = json.dumps([z.feature() for z in zones], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- parsing and validation ---------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Refused("bad_number", f"{what} must be a finite number, not {value!r}")
    return float(value)


def _optional_limit(props: Mapping[str, Any], key: str, upper: float, unit: str) -> float | None:
    if props.get(key) is None:
        return None
    value = _number(props[key], key)
    if not 0 < value <= upper:
        raise _Refused(f"bad_{key}", f"{key} {value:g} is outside (0, {upper:g}] {unit}")
    return value


def _position(value: object, where: str) -> Point:
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise _Refused("bad_coordinates", f"{where} must be a [lon, lat] position, not {value!r}")
    lon, lat = _number(value[0], f"{where} longitude"), _number(value[1], f"{where} latitude")
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise _Refused(
            "bad_coordinates",
            f"{where} [{lon:g}, {lat:g}] is not WGS-84 lon/lat (lon -180..180, lat -90..90); "
            "projected coordinates must be converted to WGS-84 first",
        )
    return (lon, lat)


def _ring(value: object, where: str) -> Ring:
    if not isinstance(value, list) or len(value) < 4:
        raise _Refused("ring_too_short", f"{where} needs at least 4 positions (a closed triangle), has {_len(value)}")
    ring = tuple(_position(p, f"{where} position {i}") for i, p in enumerate(value))
    if ring[0] != ring[-1]:
        raise _Refused("ring_not_closed", f"{where} must end where it starts ({list(ring[0])} ≠ {list(ring[-1])})")
    return ring


def _len(value: object) -> int | str:
    return len(value) if isinstance(value, list) else type(value).__name__


def _geometry(geometry: object, kind: ZoneKind) -> tuple[GeometryType, tuple[Ring, ...]]:
    if not isinstance(geometry, dict):
        raise _Refused("bad_geometry", "geometry must be a GeoJSON geometry object")
    gtype, coords = geometry.get("type"), geometry.get("coordinates")
    if gtype == "Polygon":
        if not isinstance(coords, list) or not coords:
            raise _Refused("bad_geometry", "a Polygon's coordinates must be a list of rings (outer ring first)")
        return "Polygon", tuple(_ring(r, "outer ring" if i == 0 else f"hole {i}") for i, r in enumerate(coords))
    if gtype == "LineString":
        if kind is not ZoneKind.ROAD:
            raise _Refused(
                "bad_geometry_type", f"a {kind.value} must be a Polygon; only a road may be a LineString (with width_m)"
            )
        if not isinstance(coords, list) or len(coords) < 2:
            raise _Refused("line_too_short", f"a LineString needs at least 2 positions, has {_len(coords)}")
        return "LineString", (tuple(_position(p, f"position {i}") for i, p in enumerate(coords)),)
    if gtype == "MultiPolygon":
        raise _Refused("bad_geometry_type", "MultiPolygon is not accepted: draw each part as its own feature")
    raise _Refused(
        "bad_geometry_type", f"geometry type {gtype!r} is not accepted: use Polygon (or LineString for a road)"
    )


def _name(props: Mapping[str, Any], key: str) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not _NAME.match(value):
        raise _Refused(
            f"bad_{key}",
            f"{key} {value!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return value


def _spec(feature: object) -> ZoneSpec:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _Refused("not_a_feature", "each item of features must be a GeoJSON Feature object")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise _Refused("no_properties", "properties must be an object with site, zone_id, kind and name")
    site, zone_id = _name(props, "site"), _name(props, "zone_id")
    try:
        kind = ZoneKind(str(props.get("kind")))
    except ValueError:
        raise _Refused("unknown_kind", f"kind {props.get('kind')!r} is not one of: {', '.join(ZONE_KINDS)}") from None
    name = props.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise _Refused("bad_name", "name must be a non-empty text of at most 200 characters (shown on the map)")
    gate_id = None
    if kind is ZoneKind.GATE:
        gate_id = _name(props, "gate_id")
    elif props.get("gate_id") is not None:
        raise _Refused("gate_id_not_a_gate", f"gate_id belongs on a zone of kind gate, not on a {kind.value}")
    gtype, coords = _geometry(feature.get("geometry"), kind)
    width = _optional_limit(props, "width_m", MAX_WIDTH_M, "m")
    if gtype == "LineString" and width is None:
        raise _Refused(
            "width_missing", "a road drawn as a LineString needs width_m (the carriageway's width in metres)"
        )
    return ZoneSpec(
        site=site,
        zone_id=zone_id,
        kind=kind,
        name=name.strip(),
        geometry_type=gtype,
        coordinates=coords,
        speed_limit_kmh=_optional_limit(props, "speed_limit_kmh", MAX_SPEED_LIMIT_KMH, "km/h"),
        max_stop_s=_optional_limit(props, "max_stop_s", MAX_STOP_LIMIT_S, "s"),
        gate_id=gate_id,
        width_m=width if gtype == "LineString" else None,
        extra=MappingProxyType({k: v for k, v in props.items() if k not in KNOWN_PROPERTIES}),
    )


def _centre(zones: Sequence[ZoneSpec]) -> Point:
    points = [p for z in zones for ring in z.coordinates for p in ring]
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return ((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2)


def _shape_problems(z: ZoneSpec, frame: LocalFrame) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if z.geometry_type == "LineString":
        line = [frame.to_xy(*p) for p in z.coordinates[0]]
        if polyline_length_m(line) < 1.0:
            found.append(("zero_length", "the line is shorter than 1 m: its positions are (nearly) the same"))
        return found
    rings = [[frame.to_xy(*p) for p in ring] for ring in z.coordinates]
    for i, ring in enumerate(rings):
        label = "outer ring" if i == 0 else f"hole {i}"
        crossing = ring_self_crossing(ring)
        if crossing is not None:
            found.append(("self_intersecting", f"{label}: edges {crossing[0]} and {crossing[1]} cross each other"))
        elif abs(ring_area_m2(ring)) < MIN_AREA_M2:
            found.append(("zero_area", f"{label} encloses less than {MIN_AREA_M2:g} m²"))
        if i > 0 and not point_in_ring(*ring[0], rings[0]):
            found.append(("hole_outside", f"{label} starts outside the outer ring"))
    return found


def _site_problems(site: str, specs: list[tuple[int, ZoneSpec]]) -> list[Problem]:
    problems: list[Problem] = []
    zones = [z for _, z in specs]
    frame = LocalFrame(*_centre(zones))
    seen: dict[str, int] = {}
    for index, z in specs:

        def here(code: str, message: str, index: int = index, z: ZoneSpec = z) -> Problem:
            return Problem(code, message, feature=index, zone_id=z.zone_id, site=site)

        if z.zone_id in seen:
            other = seen[z.zone_id]
            problems.append(here("duplicate_zone_id", f"zone_id {z.zone_id!r} is also used by feature {other}"))
        seen.setdefault(z.zone_id, index)
        far = max(haversine_m(frame.lon0, frame.lat0, *p) for ring in z.coordinates for p in ring)
        if far > MAX_EXTENT_M:
            problems.append(
                here(
                    "too_far",
                    f"a position lies {far / 1000:.0f} km from the centre of site {site!r} (limit "
                    f"{MAX_EXTENT_M / 1000:g} km): lon and lat swapped, or a feature of another park?",
                )
            )
            continue
        problems.extend(here(code, message) for code, message in _shape_problems(z, frame))
    boundaries = [(i, z) for i, z in specs if z.kind is ZoneKind.PARK_BOUNDARY]
    if not boundaries:
        problems.append(
            Problem(
                "boundary_missing",
                f"site {site!r} has no park_boundary: draw the park's fence as one Polygon of kind park_boundary",
                site=site,
            )
        )
    for index, z in boundaries[1:]:
        problems.append(
            Problem(
                "boundary_repeated",
                f"site {site!r} already has a park_boundary (feature {boundaries[0][0]}); a site has one",
                feature=index,
                zone_id=z.zone_id,
                site=site,
            )
        )
    if len(boundaries) == 1 and not problems:
        problems.extend(_outside_boundary(site, specs, boundaries[0][1], frame))
    return problems


def _outside_boundary(
    site: str, specs: list[tuple[int, ZoneSpec]], boundary: ZoneSpec, frame: LocalFrame
) -> list[Problem]:
    """Warnings for zones that lie wholly outside the fence (a waiting lot, a gate or an
    assembly point outside it is normal; a filling bay, a road or a restricted zone is not)."""
    fence = [[frame.to_xy(*p) for p in ring] for ring in boundary.coordinates]
    out: list[Problem] = []
    for index, z in specs:
        if z.kind not in (ZoneKind.ROAD, ZoneKind.FILLING_BAY, ZoneKind.RESTRICTED):
            continue
        if not any(point_in_polygon(*frame.to_xy(*p), fence) for ring in z.coordinates for p in ring):
            out.append(
                Problem(
                    "outside_boundary",
                    f"the {z.kind.value} lies wholly outside the park boundary {boundary.zone_id!r}",
                    feature=index,
                    zone_id=z.zone_id,
                    site=site,
                    severity="warning",
                )
            )
    return out


def parse_layout(doc: object) -> tuple[dict[str, list[ZoneSpec]], list[Problem]]:
    """Validate a FeatureCollection: zones per site (in file order) and every problem found.

    Problems of severity ``error`` mean the layout must not be used; ``warning`` ones are told
    and do not stop an import.
    """
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        return {}, [Problem("not_feature_collection", "the file must be a GeoJSON FeatureCollection")]
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        return {}, [Problem("no_features", "the FeatureCollection has no features")]
    crs = doc.get("crs")
    if isinstance(crs, dict):
        name = str((crs.get("properties") or {}).get("name", ""))
        if name and not name.endswith(("CRS84", "4326")):
            return {}, [Problem("bad_crs", f"crs {name!r}: coordinates must be WGS-84 lon/lat (EPSG:4326 / CRS84)")]
    problems: list[Problem] = []
    by_site: dict[str, list[tuple[int, ZoneSpec]]] = {}
    for index, feature in enumerate(features):
        try:
            spec = _spec(feature)
        except _Refused as exc:
            props = feature.get("properties") if isinstance(feature, dict) else None
            zone_id = props.get("zone_id") if isinstance(props, dict) else None
            site = props.get("site") if isinstance(props, dict) else None
            problems.append(
                Problem(
                    exc.code,
                    exc.message,
                    feature=index,
                    zone_id=zone_id if isinstance(zone_id, str) else None,
                    site=site if isinstance(site, str) else None,
                )
            )
            continue
        by_site.setdefault(spec.site, []).append((index, spec))
    for site, specs in by_site.items():
        problems.extend(_site_problems(site, specs))
    return {site: [z for _, z in specs] for site, specs in by_site.items()}, problems


# --- the layout in metres ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Zone:
    """A zone in metres about the layout's reference point.

    A polygon has ``rings``; a road drawn as a line has ``line`` and ``half_width_m`` instead.
    """

    zone_id: str
    kind: ZoneKind
    name: str
    bbox: BBox
    area_m2: float
    rings: tuple[Ring, ...] = ()
    line: Ring = ()
    half_width_m: float = 0.0
    speed_limit_kmh: float | None = None
    max_stop_s: float | None = None
    gate_id: str | None = None

    def contains(self, x: float, y: float) -> bool:
        if not self.bbox.holds(x, y):
            return False
        if self.rings:
            return point_in_polygon(x, y, self.rings)
        return distance_to_polyline(x, y, self.line) <= self.half_width_m


def _zone(spec: ZoneSpec, frame: LocalFrame) -> Zone:
    common: dict[str, Any] = {
        "zone_id": spec.zone_id,
        "kind": spec.kind,
        "name": spec.name,
        "speed_limit_kmh": spec.speed_limit_kmh,
        "max_stop_s": spec.max_stop_s,
        "gate_id": spec.gate_id,
    }
    if spec.geometry_type == "LineString":
        line = tuple(frame.to_xy(*p) for p in spec.coordinates[0])
        half = (spec.width_m or 0.0) / 2
        area = polyline_length_m(line) * 2 * half
        return Zone(bbox=BBox.around(line, half), area_m2=area, line=line, half_width_m=half, **common)
    rings = tuple(tuple(frame.to_xy(*p) for p in ring) for ring in spec.coordinates)
    area = abs(ring_area_m2(rings[0])) - sum(abs(ring_area_m2(h)) for h in rings[1:])
    return Zone(bbox=BBox.around(rings[0]), area_m2=area, rings=rings, **common)


@dataclass(frozen=True, slots=True)
class Layout:
    """One version of a site's layout, ready for questions. Immutable; build with :func:`build_layout`.

    ``zones`` are sorted smallest first, so the first zone of a kind that contains a point is the
    most specific one (a filling bay before the restricted area around it).
    """

    site: str
    version: int
    frame: LocalFrame
    zones: tuple[Zone, ...]
    boundary: Zone | None
    default_max_stop_s: float

    def zones_at(self, lon: float, lat: float) -> tuple[Zone, ...]:
        """Every zone containing the position, smallest first."""
        x, y = self.frame.to_xy(lon, lat)
        return tuple(z for z in self.zones if z.contains(x, y))

    def zone(self, zone_id: str) -> Zone | None:
        return next((z for z in self.zones if z.zone_id == zone_id), None)


def build_layout(site: str, version: int, specs: Sequence[ZoneSpec]) -> Layout:
    """The layout of validated zones (from :func:`parse_layout` or the store)."""
    if not specs:
        raise ValueError(f"layout of site {site!r} has no zones")
    frame = LocalFrame(*_centre(specs))
    zones = tuple(sorted((_zone(s, frame) for s in specs), key=lambda z: (z.area_m2, z.zone_id)))
    boundary = next((z for z in zones if z.kind is ZoneKind.PARK_BOUNDARY), None)
    default_stop = boundary.max_stop_s if boundary is not None and boundary.max_stop_s else DEFAULT_MAX_STOP_S
    return Layout(site, version, frame, zones, boundary, default_stop)


def zone_from_feature(feature: Mapping[str, Any]) -> ZoneSpec:
    """A stored Feature (validated at import) back to its zone; ValueError if it no longer reads."""
    try:
        return _spec(dict(feature))
    except _Refused as exc:
        raise ValueError(f"{exc.code}: {exc.message}") from None
