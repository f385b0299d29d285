"""The emergency response card (应急处置卡) of an alert: a pure function of typed inputs.

:func:`response_card` takes what the adapters (``emergency/sources.py``) found — the substance,
the centre, the spill size, whether it is night there, and everything with a position — and
returns the card of ``GET /api/v1/alerts/{id}/response``: the guide's five fields, the ERG
distances for this spill size at this time of day, what lies inside the protective radius (with
distances) and the nearest assembly points.

Radius: the protective-action distance when ERG gives one (Table 1 materials), else the initial
isolation distance (the guide's own). Things inside the isolation distance are marked
``"zone": "isolation"``, the rest inside the radius ``"protective"``. The incident's own vehicle
and its devices are the centre, not "inside". Assembly points are ordered nearest first among
those outside the radius, then those inside it (which must not be used).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from emergency.catalogue import Substance
from emergency.erg import Guide
from emergency.geo import Point, distance_to_polygon_m, haversine_m

SpillSize = Literal["small", "large"]
ThingKind = Literal["vehicle", "person", "device", "zone"]
NO_GUIDE_HINT: Final = (
    "add it to the park catalogue with `hazgate substances import` (column erg_guide); until then ERG "
    "advises guide 111 (mixed load / unidentified cargo)"
)
# Inside the radius, at one distance: the vehicle first, then its crew and devices.
KIND_ORDER: Final = {"vehicle": 0, "person": 1, "device": 2, "zone": 3}
# Assembly points listed on a card: the officer needs the nearest few, not the park's list.
MAX_ASSEMBLY_POINTS: Final = 5


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Cargo(_Frozen):
    un: str
    name: str | None = None
    quantity_kg: float | None = None


class Positioned(_Frozen):
    """Something with a place: a vehicle (with its cargo), a device, a person, a zone."""

    kind: ThingKind
    id: str
    point: Point | None = None
    polygon: tuple[Point, ...] = ()
    label: str | None = None
    cargo: Cargo | None = None
    # The vehicle a device or person belongs to (the centre's own are not "inside").
    plate: str | None = None
    position_ts: datetime | None = None


class AssemblyPoint(_Frozen):
    id: str
    name: str | None = None
    point: Point


class Center(_Frozen):
    lat: float
    lon: float
    source: str = Field(description="what the centre is: vehicle:<plate> or zone:<zone_id>")
    ts: datetime | None = Field(None, description="when that position was reported")


class Incident(_Frozen):
    """The card's inputs besides the surroundings."""

    alert_id: str
    un: str
    cargo_name: str | None = None
    substance: Substance | None
    guide: Guide | None
    center: Center | None
    spill: SpillSize = "small"
    at: datetime
    local_time: str
    is_night: bool
    night_basis: str
    # The vehicle at the centre (its devices and crew are the incident itself).
    source_plate: str | None = None
    source_zone: str | None = None


class InsideOut(_Frozen):
    kind: ThingKind
    id: str
    distance_m: float
    zone: Literal["isolation", "protective"]
    label: str | None = None
    cargo: Cargo | None = None
    plate: str | None = None


class AssemblyOut(_Frozen):
    id: str
    name: str | None
    lat: float
    lon: float
    distance_m: float
    inside_radius: bool


class SubstanceOut(_Frozen):
    un: str
    name_en: str | None
    name_zh: str | None
    hazard_class: str | None = Field(serialization_alias="class")
    tih: bool


class GuideOut(_Frozen):
    hazards: list[str]
    public_safety: list[str]
    fire: list[str]
    spill: list[str]
    first_aid: list[str]


class Circle(_Frozen):
    kind: Literal["isolation", "protective", "fire_isolation"]
    radius_m: int


class ResponseCard(_Frozen):
    alert_id: str
    un: str
    substance: SubstanceOut
    erg_guide: int | None
    guide_title: str | None
    guide: GuideOut | None
    spill: SpillSize
    isolation_m: int | None
    protective_m: int | None
    fire_isolation_m: int | None
    radius_m: int | None
    distance_source: str | None
    is_night: bool
    night_basis: str
    at: datetime
    local_time: str
    center: Center | None
    circles: list[Circle]
    inside: list[InsideOut]
    assembly_points: list[AssemblyOut]
    notes: list[str]


def _distances(s: Substance | None, spill: SpillSize, night: bool) -> tuple[int | None, int | None, str | None]:
    """(isolation, protective, source) for the spill size and time of day; None where unknown."""
    if s is None or s.isolation_m is None:
        return None, None, None
    iso = s.isolation_m.small if spill == "small" else s.isolation_m.large
    protective = None
    if s.protective_m is not None:
        p = s.protective_m
        protective = {
            ("small", False): p.small_day,
            ("small", True): p.small_night,
            ("large", False): p.large_day,
            ("large", True): p.large_night,
        }[(spill, night)]
    source: str | None = s.distance_source
    if spill == "large" and protective is None and s.table3:
        # Table 3 covers large spills of these gases by container; a road tanker is a
        # highway tank truck. Wind is unknown here: low wind gives the largest distances.
        truck = next((t for t in s.table3 if t.container == "highway_tank_truck"), None)
        if truck is not None:
            iso = truck.isolation_m
            protective = (truck.night_m if night else truck.day_m).get("low")
            source = "table3_highway_tank_truck_low_wind"
    return iso, protective, source


def _distance(center: Point, thing: Positioned) -> float | None:
    if thing.polygon:
        return distance_to_polygon_m(center, thing.polygon)
    if thing.point is not None:
        return haversine_m(center, thing.point)
    return None


def _notes(incident: Incident, s: Substance | None, iso: int | None, protective: int | None) -> list[str]:
    notes: list[str] = []
    name = incident.cargo_name or (s.name_zh or s.name_en if s else None) or "unknown substance"
    if s is None or s.erg_guide is None:
        notes.append(f"No ERG guide is known for {incident.un} ({name}): {NO_GUIDE_HINT}.")
    if s is not None and s.erg_guide is not None and iso is None:
        notes.append(f"ERG gives no isolation distance for a {incident.spill} spill of {incident.un}.")
    if s is not None and s.distance_source == "table1_water":
        gases = ", ".join(s.water_reactive_gases) or "toxic gases"
        notes.append(f"Table 1 distances apply when {incident.un} is spilled in water (it makes {gases}).")
    if s is not None and s.tih and protective is None and iso is not None:
        notes.append(f"Toxic by inhalation: no protective distance for a {incident.spill} spill in the tables.")
    if incident.center is None:
        notes.append("No position is known for the incident: nothing can be measured from it.")
    return notes


def response_card(
    incident: Incident,
    things: list[Positioned],
    assembly_points: list[AssemblyPoint],
) -> ResponseCard:
    s = incident.substance
    iso, protective, source = _distances(s, incident.spill, incident.is_night)
    radius = protective if protective is not None else iso
    inside: list[InsideOut] = []
    assembly: list[AssemblyOut] = []
    if incident.center is not None:
        c = Point(lat=incident.center.lat, lon=incident.center.lon)
        for thing in things:
            own = incident.source_plate is not None and thing.plate == incident.source_plate
            if own or (thing.kind == "zone" and thing.id == incident.source_zone):
                continue
            d = _distance(c, thing)
            if d is None or radius is None or d > radius:
                continue
            zone: Literal["isolation", "protective"] = "isolation" if iso is not None and d <= iso else "protective"
            inside.append(
                InsideOut(
                    kind=thing.kind,
                    id=thing.id,
                    distance_m=round(d, 1),
                    zone=zone,
                    label=thing.label,
                    cargo=thing.cargo,
                    plate=thing.plate,
                )
            )
        inside.sort(key=lambda i: (i.distance_m, KIND_ORDER[i.kind], i.id))
        for ap in assembly_points:
            d = haversine_m(c, ap.point)
            assembly.append(
                AssemblyOut(
                    id=ap.id,
                    name=ap.name,
                    lat=ap.point.lat,
                    lon=ap.point.lon,
                    distance_m=round(d, 1),
                    inside_radius=radius is not None and d <= radius,
                )
            )
        assembly.sort(key=lambda a: (a.inside_radius, a.distance_m))
        assembly = assembly[:MAX_ASSEMBLY_POINTS]
    circles = [
        Circle(kind=kind, radius_m=r)
        for kind, r in (
            ("isolation", iso),
            ("protective", protective),
            ("fire_isolation", s.fire_isolation_m if s else None),
        )
        if r is not None
    ]
    guide = incident.guide
    return ResponseCard(
        alert_id=incident.alert_id,
        un=incident.un,
        substance=SubstanceOut(
            un=incident.un,
            name_en=s.name_en if s else None,
            name_zh=(s.name_zh if s else None) or incident.cargo_name,
            hazard_class=s.hazard_class if s else None,
            tih=s.tih if s else False,
        ),
        erg_guide=guide.number if guide else None,
        guide_title=guide.title if guide else None,
        guide=GuideOut(**guide.sections()) if guide else None,
        spill=incident.spill,
        isolation_m=iso,
        protective_m=protective,
        fire_isolation_m=s.fire_isolation_m if s else None,
        radius_m=radius,
        distance_source=source,
        is_night=incident.is_night,
        night_basis=incident.night_basis,
        at=incident.at,
        local_time=incident.local_time,
        center=incident.center,
        circles=circles,
        inside=inside,
        assembly_points=assembly,
        notes=_notes(incident, s, iso, protective),
    )
