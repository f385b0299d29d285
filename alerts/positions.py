"""Rules on positions, the pure part: where a tracker is, and what each rule makes of it.

The engine locates a reading once (:func:`locate`: the zones of the site's current layout that
contain it, smallest first) and hands the :class:`Fix` to :func:`step` for every position rule.
``step`` returns the subject's new state (None: nothing to remember) and an :class:`Outcome`
when an alert fires, changes or resolves. The engine turns outcomes into transitions.

- ``zone``: inside a zone of ``zone_kinds`` (held ``for_s``); resolves on leaving. Moving into
  another such zone while firing is a repeat with the new ``zone_id``.
- ``speeding``: over the lowest ``speed_limit_kmh`` of the zones it is in, plus the tolerance
  (held ``for_s``); resolves at or below the limit. A new top speed updates the alert's value.
- ``stop``: stopped longer than the zone's ``max_stop_s``; with none, anywhere in the park
  but a parking lot or filling bay, longer than the site default; resolves on moving.
- ``off_route``: inside the park, in no road, parking, filling bay or gate (held ``for_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from alerts.context import EngineContext
from alerts.events import Reading
from alerts.models import OffRouteRule, PositionRule, SpeedingRule, StopRule, ZoneRule
from alerts.state import SubjectState
from park.layout import ROUTE_KINDS, STANDING_KINDS, Layout, Zone, ZoneKind

DetailValue = str | float | list[str] | None


@dataclass(frozen=True, slots=True)
class Fix:
    """A tracker's reading placed on its site's layout."""

    device_id: str
    lon: float
    lat: float
    speed_kmh: float | None
    layout: Layout
    zones: tuple[Zone, ...]  # containing the position, smallest first
    plate: str | None

    @property
    def inside_park(self) -> bool:
        boundary = self.layout.boundary
        return boundary is None or boundary in self.zones

    @property
    def who(self) -> str:
        return f"{self.plate} ({self.device_id})" if self.plate else self.device_id

    def innermost(self) -> Zone | None:
        """The smallest zone it is in other than the park boundary."""
        return next((z for z in self.zones if z.kind is not ZoneKind.PARK_BOUNDARY), None)


def locate(context: EngineContext, r: Reading) -> Fix | None:
    """The reading's place on its site's layout; None without a layout or a usable lat/lon."""
    layout = context.layouts.get(r.site)
    lat, lon = r.values.get("lat"), r.values.get("lon")
    if layout is None or lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    speed = r.values.get("speed_kmh")
    if speed is not None and not math.isfinite(speed):
        speed = None
    zones = layout.zones_at(lon, lat)
    return Fix(r.device_id, lon, lat, speed, layout, zones, context.plates.get(r.device_id))


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Literal["fire", "update", "resolve"]
    reason: str
    summary: str
    zone_id: str | None
    zone: Zone | None = None
    metric: str | None = None
    value: float | None = None
    repeat: bool = False
    extra: dict[str, DetailValue] = field(default_factory=dict)


def details(outcome: Outcome, fix: Fix) -> dict[str, DetailValue]:
    """The alert's details: plate and zone (CONTRACT.md: the body adds them), where, which layout."""
    zone = outcome.zone
    return {
        "plate": fix.plate,
        "zone_id": outcome.zone_id,
        "zone_name": zone.name if zone is not None else None,
        "zone_kind": zone.kind.value if zone is not None else None,
        "lat": fix.lat,
        "lon": fix.lon,
        "speed_kmh": fix.speed_kmh,
        "layout_version": float(fix.layout.version),
        **outcome.extra,
    }


def _age_s(now: datetime, then: datetime) -> float:
    return (now - then).total_seconds()


def _seen(st: SubjectState | None, r: Reading, **changes: Any) -> SubjectState:
    """``st`` (or a new subject) having seen ``r``, with ``changes`` in the same copy."""
    if st is None:
        return SubjectState(site=r.site, device_id=r.device_id, device_type=r.device_type, last_ts=r.ts, **changes)
    return replace(st, last_ts=r.ts, **changes)


def _held(st: SubjectState | None, r: Reading, for_s: float, zone: Zone | None) -> tuple[SubjectState, bool]:
    """A condition that holds now: (state, whether it has held for ``for_s`` and fires now)."""
    since = st.pending_since if st is not None and st.pending_since is not None else r.ts
    if _age_s(r.ts, since) >= for_s:
        zone_id = zone.zone_id if zone is not None else None
        return _seen(st, r, pending_since=since, firing=True, firing_since=r.ts, zone_id=zone_id), True
    return _seen(st, r, pending_since=since), False


def _zone(rule: ZoneRule, st: SubjectState | None, r: Reading, fix: Fix) -> tuple[SubjectState | None, Outcome | None]:
    matching = [z for z in fix.zones if z.kind.value in rule.zone_kinds]
    firing = st is not None and st.firing
    if not matching:
        if st is not None and firing:
            return None, Outcome("resolve", "left_zone", f"{fix.who} left zone {st.zone_id}", st.zone_id)
        return None, None
    if st is not None and firing:
        if any(z.zone_id == st.zone_id for z in matching):
            return _seen(st, r), None
        zone = matching[0]
        summary = f"{fix.who} moved into {zone.name} ({zone.kind.value})"
        return _seen(st, r, zone_id=zone.zone_id), Outcome(
            "update", "zone_changed", summary, zone.zone_id, zone, repeat=True
        )
    zone = matching[0]
    new, fires = _held(st, r, rule.for_s, zone)
    if not fires:
        return new, None
    return new, Outcome("fire", "zone", f"{fix.who} inside {zone.name} ({zone.kind.value})", zone.zone_id, zone)


def _speeding(
    rule: SpeedingRule, st: SubjectState | None, r: Reading, fix: Fix
) -> tuple[SubjectState | None, Outcome | None]:
    speed = fix.speed_kmh
    if speed is None:
        return st, None
    limited = [z for z in fix.zones if z.speed_limit_kmh is not None]
    zone = min(limited, key=lambda z: (z.speed_limit_kmh or 0.0, z.area_m2), default=None)
    limit = zone.speed_limit_kmh if zone is not None else None
    over = limit is not None and speed > limit + rule.tolerance_kmh
    where = f" in {zone.name}" if zone is not None else ""
    described = f"{fix.who} at {speed:.0f} km/h{where}" + (f", limit {limit:g} km/h" if limit is not None else "")
    extra: dict[str, DetailValue] = {"speed_limit_kmh": limit}
    if st is not None and st.firing:
        if over:
            if st.peak is None or speed > st.peak:
                new = _seen(st, r, peak=speed)
                return new, Outcome("update", "faster", described, st.zone_id, zone, "speed_kmh", speed, extra=extra)
            return _seen(st, r), None
        if limit is None or speed <= limit:
            return None, Outcome("resolve", "slowed_down", described, st.zone_id, zone, "speed_kmh", speed)
        return _seen(st, r), None
    if not over or zone is None:
        return None, None
    new, fires = _held(st, r, rule.for_s, zone)
    if not fires:
        return new, None
    return replace(new, peak=speed), Outcome(
        "fire", "speeding", described, zone.zone_id, zone, "speed_kmh", speed, extra=extra
    )


def stop_limit(fix: Fix) -> tuple[float | None, Zone | None]:
    """How long the vehicle may stand where it is (None: as long as it likes), and the zone that says so."""
    own = [z for z in fix.zones if z.max_stop_s is not None and z.kind is not ZoneKind.PARK_BOUNDARY]
    if own:
        zone = min(own, key=lambda z: (z.max_stop_s or 0.0, z.area_m2))
        return zone.max_stop_s, zone
    if any(z.kind in STANDING_KINDS for z in fix.zones) or not fix.inside_park:
        return None, None
    return fix.layout.default_max_stop_s, fix.innermost() or fix.layout.boundary


def _stop(rule: StopRule, st: SubjectState | None, r: Reading, fix: Fix) -> tuple[SubjectState | None, Outcome | None]:
    speed = fix.speed_kmh
    if speed is None:
        return st, None
    if speed >= rule.stopped_below_kmh:
        if st is not None and st.firing:
            summary = f"{fix.who} moving again ({speed:.0f} km/h)"
            return None, Outcome("resolve", "moving", summary, st.zone_id)
        return None, None
    if st is not None and st.firing:
        return _seen(st, r), None
    since = st.pending_since if st is not None and st.pending_since is not None else r.ts
    stopped_s = _age_s(r.ts, since)
    limit, zone = stop_limit(fix)
    if limit is None or stopped_s <= limit:
        return _seen(st, r, pending_since=since), None
    zone_id = zone.zone_id if zone is not None else None
    new = _seen(st, r, pending_since=since, firing=True, firing_since=r.ts, zone_id=zone_id)
    where = f" in {zone.name}" if zone is not None else ""
    summary = f"{fix.who} stopped{where} for {stopped_s:.0f} s (limit {limit:g} s)"
    extra: dict[str, DetailValue] = {"stopped_since": since.isoformat(), "max_stop_s": limit}
    return new, Outcome("fire", "stopped", summary, zone_id, zone, None, stopped_s, extra=extra)


def _off_route(
    rule: OffRouteRule, st: SubjectState | None, r: Reading, fix: Fix
) -> tuple[SubjectState | None, Outcome | None]:
    off = fix.inside_park and not any(z.kind in ROUTE_KINDS for z in fix.zones)
    if not off:
        if st is not None and st.firing:
            return None, Outcome("resolve", "back_on_route", f"{fix.who} back on a road", st.zone_id)
        return None, None
    if st is not None and st.firing:
        return _seen(st, r), None
    zone = fix.innermost()
    new, fires = _held(st, r, rule.for_s, zone)
    if not fires:
        return new, None
    where = f" (in {zone.name})" if zone is not None else ""
    return new, Outcome("fire", "off_route", f"{fix.who} off every road and lot{where}", new.zone_id, zone)


def step(
    rule: PositionRule, st: SubjectState | None, r: Reading, fix: Fix
) -> tuple[SubjectState | None, Outcome | None]:
    """One reading of one tracker under one position rule."""
    if isinstance(rule, ZoneRule):
        return _zone(rule, st, r, fix)
    if isinstance(rule, SpeedingRule):
        return _speeding(rule, st, r, fix)
    if isinstance(rule, StopRule):
        return _stop(rule, st, r, fix)
    return _off_route(rule, st, r, fix)
