"""Adapters that fetch the response card's inputs from the database (sync psycopg).

Each source is one small function, so a new table is wired by filling in one of them:

- the alert and what it involves: :func:`load_alert`, :func:`plate_of_device`;
- vehicles and their positions: :func:`tracked_vehicles` (the newest ``lat``/``lon`` of each
  ``gps_tracker`` registered with ``--plate``), :func:`vehicle_position`;
- cargo: :func:`cargo_from_visit` (the waybill of the plate's stay in the park at that time)
  first, then :func:`cargo_from_registry` (the plate's waybill valid at that time, else the
  waybill of its last passed gate inspection);
- the park layout: :func:`layout_zones` (the site's current layout version),
  :func:`layout_assembly_points`, :func:`zone_of_device` (the zone a fixed device is installed
  in, ``hazgate devices add --zone``);
- people: the crews of the vehicles (the waybill's driver and escort) at their vehicle's place;
  :func:`people_positions` for anyone tracked on their own: hazgate has no personal trackers
  (badges, phones) yet, so it returns nothing and the card says who it knows of.

:func:`build_card` puts them together and calls the pure :func:`emergency.card.response_card`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg

from alerts.lifecycle import Alert
from alerts.store import alert_from_doc
from checks.common import mask_id
from emergency.card import (
    AssemblyPoint,
    Cargo,
    Center,
    Incident,
    Positioned,
    ResponseCard,
    SpillSize,
    response_card,
)
from emergency.catalogue import Substance, resolve
from emergency.erg import load_erg
from emergency.errors import EmergencyError
from emergency.geo import Point, centroid, is_night, is_night_by_clock, sun_elevation_deg
from emergency.park import park_entry, zone_substances
from hazgate.settings import SiteSettings
from park.store import stored_layout
from registry.models import Waybill

logger = logging.getLogger(__name__)

# A position older than this says where a vehicle was, not where it is: left off the card.
POSITION_MAX_AGE: Final = timedelta(hours=24)


class NoSuchAlert(EmergencyError):
    pass


class NoSubstance(EmergencyError):
    """The alert involves no vehicle with cargo and no zone storing a substance."""


@dataclass(frozen=True, slots=True)
class Zone:
    """A zone of the park layout (kind, outline or label point)."""

    site: str
    zone_id: str
    kind: str
    name: str | None
    polygon: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Fix:
    point: Point
    ts: datetime


# --- the alert ---------------------------------------------------------------------------------


def load_alert(conn: psycopg.Connection, alert_id: str) -> Alert:
    row = conn.execute("SELECT doc FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    if row is None:
        raise NoSuchAlert(f"no alert {alert_id}", hint="GET /api/v1/alerts lists the alerts")
    return alert_from_doc(row[0])


def plate_of_device(conn: psycopg.Connection, device_id: str | None) -> str | None:
    if device_id is None:
        return None
    row = conn.execute("SELECT plate FROM devices WHERE device_id = %s", (device_id,)).fetchone()
    return row[0] if row and row[0] else None


def involved_plate(conn: psycopg.Connection, alert: Alert) -> str | None:
    """The vehicle of an alert: its device's vehicle, or the plate position rules put in details."""
    plate = plate_of_device(conn, alert.device_id)
    if plate is None and isinstance(alert.details.get("plate"), str):
        plate = str(alert.details["plate"])
    return plate


# --- vehicles, positions, cargo ------------------------------------------------------------------

_TRACKED: Final = (
    "SELECT d.device_id, d.plate, p.ts, (p.v->>'lat')::float8, (p.v->>'lon')::float8 FROM devices d"
    ' CROSS JOIN LATERAL (SELECT t.ts, t."values" AS v FROM telemetry t WHERE t.device_id = d.device_id'
    "   AND t.ts <= %(at)s AND t.ts > %(since)s AND t.\"values\" ? 'lat' AND t.\"values\" ? 'lon'"
    "   ORDER BY t.ts DESC LIMIT 1) p"
    " WHERE d.type = 'gps_tracker' AND d.plate IS NOT NULL AND d.enabled"
)


def tracked_vehicles(conn: psycopg.Connection, site: str | None, at: datetime) -> dict[str, tuple[str, Fix]]:
    """plate -> (tracker id, newest fix at or before ``at``) for the site's tracked vehicles."""
    sql = _TRACKED + (" AND d.site = %(site)s" if site else "")
    out: dict[str, tuple[str, Fix]] = {}
    for device_id, plate, ts, lat, lon in conn.execute(
        sql, {"at": at, "since": at - POSITION_MAX_AGE, "site": site}
    ).fetchall():
        if lat is None or lon is None:
            continue
        fix = Fix(Point(lat=lat, lon=lon), ts)
        if plate not in out or out[plate][1].ts < ts:
            out[plate] = (device_id, fix)
    return out


def vehicle_position(conn: psycopg.Connection, plate: str, at: datetime) -> Fix | None:
    rows = conn.execute(
        _TRACKED + " AND d.plate = %(plate)s",
        {"at": at, "since": at - POSITION_MAX_AGE, "plate": plate},
    ).fetchall()
    fixes = [Fix(Point(lat=r[3], lon=r[4]), r[2]) for r in rows if r[3] is not None and r[4] is not None]
    return max(fixes, key=lambda f: f.ts) if fixes else None


def cargo_from_visit(conn: psycopg.Connection, plate: str, at: datetime) -> Cargo | None:
    """The cargo of the plate's stay at ``at``: the waybill its entry inspection named (a stay
    that had entered by then and not yet left); None without such a stay."""
    row = conn.execute(
        "SELECT w.record->'cargo' FROM visits v JOIN waybills w ON w.waybill_no = v.waybill_no"
        " WHERE v.plate = %s AND v.entered_at <= %s AND (v.exited_at IS NULL OR v.exited_at >= %s)"
        " AND (v.closed_at IS NULL OR v.closed_at >= %s) ORDER BY v.entered_at DESC LIMIT 1",
        (plate, at, at, at),
    ).fetchone()
    if row is None or not isinstance(row[0], dict):
        return None
    c = row[0]
    return Cargo(un=str(c["un"]), name=c.get("name"), quantity_kg=c.get("quantity_kg"))


def _waybill_cargo(w: Waybill) -> Cargo:
    return Cargo(un=w.cargo.un, name=w.cargo.name, quantity_kg=w.cargo.quantity_kg)


def current_waybill(conn: psycopg.Connection, plate: str, at: datetime) -> Waybill | None:
    """The plate's waybill valid at ``at``; else the one of its last passed inspection before ``at``."""
    row = conn.execute(
        "SELECT record FROM waybills WHERE plate = %s AND (record->>'valid_from')::timestamptz <= %s"
        " AND (record->>'valid_to')::timestamptz >= %s ORDER BY (record->>'valid_from')::timestamptz DESC LIMIT 1",
        (plate, at, at),
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT w.record FROM inspections i JOIN waybills w ON w.waybill_no = i.inputs->>'waybill_no'"
            " WHERE i.plate = %s AND coalesce(i.override_result, i.result) = 'pass' AND i.opened_at <= %s"
            " ORDER BY i.opened_at DESC LIMIT 1",
            (plate, at),
        ).fetchone()
    return Waybill.model_validate(row[0]) if row else None


def current_waybills(conn: psycopg.Connection, plates: list[str], at: datetime) -> dict[str, Waybill]:
    """:func:`current_waybill` of many plates in one query (the fallback asks one by one)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (plate) plate, record FROM waybills WHERE plate = ANY(%s)"
        " AND (record->>'valid_from')::timestamptz <= %s AND (record->>'valid_to')::timestamptz >= %s"
        " ORDER BY plate, (record->>'valid_from')::timestamptz DESC",
        (plates, at, at),
    ).fetchall()
    found = {plate: Waybill.model_validate(record) for plate, record in rows}
    for plate in plates:
        if plate not in found and (w := current_waybill(conn, plate, at)) is not None:
            found[plate] = w
    return found


def cargo_from_registry(conn: psycopg.Connection, plate: str, at: datetime) -> tuple[Cargo | None, list[str]]:
    """The cargo and the crew's id numbers by the registry's waybills."""
    w = current_waybill(conn, plate, at)
    if w is None:
        return None, []
    return _waybill_cargo(w), [w.driver_id, w.escort_id]


def crew_names(conn: psycopg.Connection, id_numbers: list[str]) -> dict[str, str]:
    if not id_numbers:
        return {}
    rows = conn.execute(
        "SELECT id_number, record->>'name' FROM personnel WHERE id_number = ANY(%s)", (id_numbers,)
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def people_positions(conn: psycopg.Connection, site: str, at: datetime) -> list[Positioned]:
    """People tracked by their own position (badges, phones): hazgate registers no such device
    type yet, so nobody; crews are placed at their vehicle by :func:`build_card`."""
    del conn, site, at
    return []


# --- the park layout -------------------------------------------------------------------------------


def layout_zones(conn: psycopg.Connection, site: str) -> list[Zone]:
    """The zones of the site's current layout version (``hazgate park import``), each with its
    outer ring (a road drawn as a line: its centre line); [] when the site has no layout."""
    layout = stored_layout(conn, site)
    if layout is None:
        return []
    return [
        Zone(
            site=site,
            zone_id=z.zone_id,
            kind=z.kind.value,
            name=z.name,
            polygon=tuple(Point(lat=lat, lon=lon) for lon, lat in z.coordinates[0]) if z.coordinates else (),
        )
        for z in layout.zones
    ]


def layout_assembly_points(conn: psycopg.Connection, site: str) -> list[AssemblyPoint]:
    """The ``assembly_point`` zones of the current layout, each at its centroid."""
    return [
        AssemblyPoint(id=z.zone_id, name=z.name, point=centroid(z.polygon))
        for z in layout_zones(conn, site)
        if z.kind == "assembly_point" and z.polygon
    ]


def zone_of_device(conn: psycopg.Connection, device_id: str | None) -> str | None:
    """The layout zone a fixed device (a gas detector) is installed in (``devices.zone_id``)."""
    if device_id is None:
        return None
    row = conn.execute("SELECT zone_id FROM devices WHERE device_id = %s", (device_id,)).fetchone()
    return row[0] if row and row[0] else None


# --- putting it together ---------------------------------------------------------------------------


def _pick_substance(conn: psycopg.Connection, uns: list[str]) -> Substance | None:
    """Of several substances a zone stores: the one with the largest distances."""
    found = [s for un in uns if (s := resolve(un, park_entry(conn, un))) is not None]

    def rank(s: Substance) -> tuple[int, int]:
        p = s.protective_m
        iso = s.isolation_m
        return (
            max((p.small_night or 0, p.large_night or 0)) if p else 0,
            max((iso.small or 0, iso.large or 0)) if iso else 0,
        )

    return max(found, key=rank) if found else None


def night_at(at: datetime, where: Point | None, site: SiteSettings) -> tuple[bool, str]:
    """ERG day or night, and how it was decided (docs/response.md)."""
    local = at.astimezone(site.tz)
    place = where or (
        Point(lat=site.latitude, lon=site.longitude)
        if site.latitude is not None and site.longitude is not None
        else None
    )
    if place is not None:
        elevation = sun_elevation_deg(at, place)
        night = is_night(at, place)
        return (
            night,
            f"sun {elevation:+.1f} deg above the horizon at {local:%H:%M} {site.timezone}: "
            + ("night" if night else "day"),
        )
    night = is_night_by_clock(local, site.night_from, site.night_until)
    return night, (
        f"no place known; by the clock at {local:%H:%M} {site.timezone} "
        f"(night {site.night_from:%H:%M}-{site.night_until:%H:%M}): {'night' if night else 'day'}"
    )


def build_card(
    conn: psycopg.Connection,
    site_for: Callable[[str | None], SiteSettings],
    alert_id: str,
    *,
    at: datetime | None = None,
    spill: SpillSize | None = None,
) -> ResponseCard:
    """The response card of an alert; raises :class:`NoSuchAlert` or :class:`NoSubstance`."""
    alert = load_alert(conn, alert_id)
    site_cfg = site_for(alert.site)
    # Open: the card is about now. Resolved: about when it ended (a record of what was).
    when = at or (alert.updated_at if not alert.is_open else datetime.now(UTC))
    plate = involved_plate(conn, alert)
    named_zone = alert.details.get("zone_id")
    zone_id = named_zone if isinstance(named_zone, str) else zone_of_device(conn, alert.device_id)
    site = alert.site or ""
    zones = layout_zones(conn, site) if site else []

    substance: Substance | None = None
    un: str | None = None
    cargo_name: str | None = None
    center: Center | None = None
    if plate is not None:
        cargo = cargo_from_visit(conn, plate, when)
        if cargo is None:
            cargo, _crew = cargo_from_registry(conn, plate, when)
        if cargo is not None:
            un, cargo_name = cargo.un, cargo.name
            substance = resolve(un, park_entry(conn, un), name=cargo.name)
            fix = vehicle_position(conn, plate, when)
            if fix is not None:
                center = Center(lat=fix.point.lat, lon=fix.point.lon, source=f"vehicle:{plate}", ts=fix.ts)
    source_zone = None
    if un is None and zone_id is not None and site:
        stored = zone_substances(conn, site, zone_id)
        substance = _pick_substance(conn, stored)
        un = substance.un if substance else (stored[0] if stored else None)
        source_zone = zone_id
        zone = next((z for z in zones if z.zone_id == zone_id and z.polygon), None)
        if zone is not None:
            c = centroid(zone.polygon)
            center = Center(lat=c.lat, lon=c.lon, source=f"zone:{zone_id}")
    if un is None:
        what = f"vehicle {plate} has no waybill or visit with cargo" if plate else "no vehicle"
        raise NoSubstance(
            f"alert {alert_id} involves no known substance: {what}"
            + (f", zone {zone_id} stores nothing in the park catalogue" if zone_id else ", and no zone"),
            hint="file the vehicle's waybill (`hazgate registry import`) or list the zone's substances "
            "(`hazgate substances import`)",
        )

    where = Point(lat=center.lat, lon=center.lon) if center else None
    night, basis = night_at(when, where, site_cfg)
    things = _surroundings(conn, site, when, zones)
    incident = Incident(
        alert_id=alert.id,
        un=un,
        cargo_name=cargo_name,
        substance=substance,
        guide=load_erg().guides.get(substance.erg_guide) if substance and substance.erg_guide else None,
        center=center,
        spill=spill or site_cfg.default_spill,
        at=when,
        local_time=when.astimezone(site_cfg.tz).strftime("%Y-%m-%d %H:%M"),
        is_night=night,
        night_basis=basis,
        source_plate=plate,
        source_zone=source_zone,
    )
    return response_card(incident, things, layout_assembly_points(conn, site) if site else [])


def _surroundings(conn: psycopg.Connection, site: str, at: datetime, zones: list[Zone]) -> list[Positioned]:
    """Everything with a place at ``at``: tracked vehicles with their cargo and crew, devices on
    them, zones of the layout, people tracked on their own."""
    things: list[Positioned] = []
    vehicles = tracked_vehicles(conn, site or None, at)
    devices: dict[str, list[str]] = {}
    if vehicles:
        for device_id, plate in conn.execute(
            "SELECT device_id, plate FROM devices WHERE plate = ANY(%s) AND enabled ORDER BY device_id",
            (sorted(vehicles),),
        ).fetchall():
            devices.setdefault(plate, []).append(device_id)
    waybills = current_waybills(conn, sorted(vehicles), at)
    names = crew_names(conn, sorted({i for w in waybills.values() for i in (w.driver_id, w.escort_id)}))
    for plate, (_tracker, fix) in sorted(vehicles.items()):
        crew: list[str] = []
        cargo = cargo_from_visit(conn, plate, at)
        if cargo is None and (w := waybills.get(plate)) is not None:
            cargo, crew = _waybill_cargo(w), [w.driver_id, w.escort_id]
        things.append(
            Positioned(kind="vehicle", id=plate, point=fix.point, plate=plate, cargo=cargo, position_ts=fix.ts)
        )
        things.extend(
            Positioned(kind="device", id=d, point=fix.point, plate=plate, position_ts=fix.ts)
            for d in devices.get(plate, [])
        )
        # Cards travel by webhook and e-mail: ID numbers masked as on the kiosk's screen.
        things.extend(
            Positioned(
                kind="person", id=mask_id(i), label=names.get(i), point=fix.point, plate=plate, position_ts=fix.ts
            )
            for i in crew
        )
    things.extend(
        Positioned(kind="zone", id=z.zone_id, label=z.name, polygon=z.polygon)
        for z in zones
        if z.kind != "assembly_point"
    )
    things.extend(people_positions(conn, site, at))
    return things


def card_json(card: ResponseCard) -> dict[str, Any]:
    """The card as JSON-ready data (``class`` for the hazard class), as the API returns it."""
    return card.model_dump(mode="json", by_alias=True)
