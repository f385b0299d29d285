"""Distances on the ground and day or night by the sun: small pure functions.

- :func:`haversine_m`: great-circle distance on a sphere of the mean Earth radius. Within a park
  (a few kilometres) it is within 0.5 % of the ellipsoidal distance, far finer than ERG's
  distances, which are rounded to tens and hundreds of metres.
- :func:`distance_to_polygon_m`: 0 inside, else to the nearest edge, on a local flat projection
  around the point (exact enough over a few kilometres).
- :func:`sun_elevation_deg` and :func:`is_night`: ERG's "night" is the time between sunset and
  sunrise. We decide it by the sun's elevation at the incident's place and time: night while
  the sun's centre is more than 0.833 degrees below the horizon (the standard sunrise/sunset
  altitude: half the sun's disc plus atmospheric refraction). The solar position uses NOAA's
  fractional-year series, good to about a minute of sunrise time at park latitudes. Where no
  place is known, :func:`is_night_by_clock` approximates with fixed local hours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

EARTH_RADIUS_M: Final = 6_371_008.8  # mean radius (IUGG)
# The sun's centre at sunrise and sunset: 16' semi-diameter + 34' refraction below the horizon.
SUNSET_ELEVATION_DEG: Final = -0.833


class Point(BaseModel):
    """A WGS-84 position."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


def haversine_m(a: Point, b: Point) -> float:
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi = phi2 - phi1
    dlmb = math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _local_xy(origin: Point, p: Point) -> tuple[float, float]:
    """Metres east and north of ``origin`` (equirectangular around it)."""
    x = math.radians(p.lon - origin.lon) * EARTH_RADIUS_M * math.cos(math.radians(origin.lat))
    y = math.radians(p.lat - origin.lat) * EARTH_RADIUS_M
    return x, y


def _inside(xy: Sequence[tuple[float, float]]) -> bool:
    """Whether the origin (0, 0) lies inside the ring (even-odd rule)."""
    inside = False
    n = len(xy)
    for i in range(n):
        (x1, y1), (x2, y2) = xy[i], xy[(i + 1) % n]
        if (y1 > 0) != (y2 > 0):
            x_cross = x1 + (0 - y1) * (x2 - x1) / (y2 - y1)
            if x_cross > 0:
                inside = not inside
    return inside


def _segment_distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    (x1, y1), (x2, y2) = a, b
    dx, dy = x2 - x1, y2 - y1
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(x1 * dx + y1 * dy) / length2))
    return math.hypot(x1 + t * dx, y1 + t * dy)


def distance_to_polygon_m(p: Point, ring: Sequence[Point]) -> float:
    """Metres from ``p`` to the polygon ``ring`` (outer ring; 0 when ``p`` is inside it)."""
    if not ring:
        raise ValueError("a polygon needs at least one point")
    if len(ring) < 3:
        return min(haversine_m(p, q) for q in ring)
    xy = [_local_xy(p, q) for q in ring]
    if _inside(xy):
        return 0.0
    return min(_segment_distance(xy[i], xy[(i + 1) % len(xy)]) for i in range(len(xy)))


def centroid(ring: Sequence[Point]) -> Point:
    """The mean of the ring's vertices (a zone's label point; closing vertex counted once)."""
    pts = list(ring[:-1]) if len(ring) > 1 and ring[0] == ring[-1] else list(ring)
    return Point(lat=sum(q.lat for q in pts) / len(pts), lon=sum(q.lon for q in pts) / len(pts))


def sun_elevation_deg(at: datetime, where: Point) -> float:
    """The sun's elevation above the horizon at ``where`` and ``at`` (NOAA's approximation)."""
    if at.tzinfo is None:
        raise ValueError("sun_elevation_deg needs a timezone-aware time")
    utc = at.astimezone(UTC)
    hours = utc.hour + utc.minute / 60 + utc.second / 3600
    days_in_year = 366 if utc.year % 4 == 0 and (utc.year % 100 != 0 or utc.year % 400 == 0) else 365
    gamma = 2 * math.pi / days_in_year * (utc.timetuple().tm_yday - 1 + (hours - 12) / 24)
    eqtime_min = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    true_solar_min = hours * 60 + eqtime_min + 4 * where.lon
    hour_angle = math.radians(true_solar_min / 4 - 180)
    lat = math.radians(where.lat)
    cos_zenith = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
    return 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))


def is_night(at: datetime, where: Point) -> bool:
    """ERG's night (sunset to sunrise) at ``where``: the sun below the sunset altitude."""
    return sun_elevation_deg(at, where) < SUNSET_ELEVATION_DEG


def is_night_by_clock(local: datetime, night_from: time, night_until: time) -> bool:
    """Night by the park's wall clock (``local`` in the park's zone), for when no place is known."""
    t = local.time()
    if night_from <= night_until:
        return night_from <= t < night_until
    return t >= night_from or t < night_until
