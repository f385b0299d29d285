"""Plane geometry on a park's scale (pure, standard library only).

A chemical park spans a few kilometres. Over that distance the earth is flat enough for an
equirectangular projection about the park's own reference point: x metres east and y metres
north, with ``cos(lat0)`` shrinking longitude. Its error grows with the square of the distance
from the reference point, about 0.2 m at 2 km from it and a few metres at 10 km, far below a
GPS fix's own error (5-10 m), so the rules work in metres without a projection library.
Distances between fixes that may be far apart use :func:`haversine_m`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

# Mean earth radius (IUGG), metres: what the haversine formula and the local frame use.
EARTH_RADIUS_M: Final = 6_371_008.8

Point = tuple[float, float]
Ring = tuple[Point, ...]


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS-84 positions (degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """Metres east (x) and north (y) of a reference point (lon0, lat0)."""

    lon0: float
    lat0: float

    @property
    def _mx(self) -> float:
        return math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(self.lat0))

    def to_xy(self, lon: float, lat: float) -> Point:
        my = math.radians(1.0) * EARTH_RADIUS_M
        return ((lon - self.lon0) * self._mx, (lat - self.lat0) * my)

    def to_lonlat(self, x: float, y: float) -> Point:
        my = math.radians(1.0) * EARTH_RADIUS_M
        return (self.lon0 + x / self._mx, self.lat0 + y / my)


def ring_area_m2(ring: Sequence[Point]) -> float:
    """Signed area (shoelace): positive counter-clockwise. The ring may repeat its first point."""
    s = 0.0
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return s / 2.0


def point_in_ring(x: float, y: float, ring: Sequence[Point]) -> bool:
    """Even-odd ray casting. A point exactly on an edge may count either way."""
    inside = False
    n = len(ring)
    j = n - 1
    for i in range(n):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def point_in_polygon(x: float, y: float, rings: Sequence[Sequence[Point]]) -> bool:
    """Inside the outer ring (``rings[0]``) and outside every hole."""
    if not rings or not point_in_ring(x, y, rings[0]):
        return False
    return not any(point_in_ring(x, y, hole) for hole in rings[1:])


def distance_to_segment(x: float, y: float, a: Point, b: Point) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 == 0.0:
        return math.hypot(x - ax, y - ay)
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / length2))
    return math.hypot(x - (ax + t * dx), y - (ay + t * dy))


def distance_to_polyline(x: float, y: float, line: Sequence[Point]) -> float:
    """Shortest distance in metres from (x, y) to a polyline of at least one point."""
    if len(line) == 1:
        return math.hypot(x - line[0][0], y - line[0][1])
    return min(distance_to_segment(x, y, line[i], line[i + 1]) for i in range(len(line) - 1))


def polyline_length_m(line: Sequence[Point]) -> float:
    return sum(math.hypot(line[i + 1][0] - line[i][0], line[i + 1][1] - line[i][1]) for i in range(len(line) - 1))


def _orientation(p: Point, q: Point, r: Point) -> float:
    return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])


def segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether segments ab and cd properly cross (touching at an end point does not count)."""
    d1, d2 = _orientation(c, d, a), _orientation(c, d, b)
    d3, d4 = _orientation(a, b, c), _orientation(a, b, d)
    return ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4))


def ring_self_crossing(ring: Sequence[Point]) -> tuple[int, int] | None:
    """The indices of two edges of a closed ring that cross each other, or None.

    Edge i runs from ``ring[i]`` to ``ring[i + 1]``; the ring repeats its first point at the end.
    O(n²): park zones have tens of vertices, not thousands.
    """
    edges = len(ring) - 1
    for i in range(edges):
        for j in range(i + 2, edges):
            if i == 0 and j == edges - 1:
                continue  # the first and last edges share the closing point
            if segments_cross(ring[i], ring[i + 1], ring[j], ring[j + 1]):
                return i, j
    return None


@dataclass(frozen=True, slots=True)
class BBox:
    min_x: float
    min_y: float
    max_x: float
    max_y: float

    @classmethod
    def around(cls, points: Sequence[Point], margin: float = 0.0) -> BBox:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        return cls(min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin)

    def holds(self, x: float, y: float) -> bool:
        return self.min_x <= x <= self.max_x and self.min_y <= y <= self.max_y
