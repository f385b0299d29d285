"""The park: its layout as GeoJSON, and the tracked vehicles on it (the dashboard's map).

``GET /api/v1/sites/{site}/layout`` serves the current layout version (or ``?version=N``) as the
GeoJSON FeatureCollection it was imported as, with ``site``, ``version``, ``imported_at`` and
``imported_by`` as foreign members. ``GET /api/v1/sites/{site}/vehicles`` lists the site's GPS
trackers on a vehicle (mounted on it, or handed out at the gate to a stay) with their last
position and the vehicle's stay: its cargo (the waybill it entered with; without a stay, the
plate's waybill valid now) and when it entered (without a stay: its last passed entry inspection).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, Role
from api.deps import ApiError, Conn, require
from park.layout import feature_collection, zone_from_feature

router = APIRouter(prefix="/api/v1/sites", tags=["park"])
Viewer = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER))]
SiteName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

# A tracker's position older than this is not shown: the vehicle has left or the tracker is off.
POSITION_MAX_AGE: Final = "1 day"


class ZoneProperties(BaseModel):
    model_config = ConfigDict(extra="allow")

    site: str
    zone_id: str
    kind: Literal["park_boundary", "road", "parking", "filling_bay", "restricted", "gate", "assembly_point"]
    name: str
    speed_limit_kmh: float | None = None
    max_stop_s: float | None = None
    gate_id: str | None = None
    width_m: float | None = None


class FeatureOut(BaseModel):
    type: Literal["Feature"]
    properties: ZoneProperties
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon, or LineString for a road with width_m")


class LayoutOut(BaseModel):
    """A GeoJSON FeatureCollection (WGS-84 lon/lat) with the version's identity as foreign members."""

    type: Literal["FeatureCollection"]
    site: str
    version: int
    imported_at: datetime
    imported_by: str
    source: str | None
    features: list[FeatureOut]


class CargoOut(BaseModel):
    un: str
    name: str
    quantity_kg: float | None = None
    waybill_no: str


class VehicleOut(BaseModel):
    device_id: str
    plate: str
    lat: float
    lon: float
    speed_kmh: float | None
    ts: datetime = Field(description="time of the last position")
    cargo: CargoOut | None = Field(
        description="the waybill the stay entered with; without a stay, the plate's waybill valid now"
    )
    entered_at: datetime | None = Field(
        description="when the stay entered; without a stay, the plate's last passed entry inspection at this site"
    )
    visit_id: str | None = Field(None, description="the vehicle's open stay (GET /api/v1/visits/{id})")
    visit_state: Literal["queued", "inside"] | None = None


class SiteLayoutOut(BaseModel):
    site: str
    version: int
    imported_at: datetime
    zones: int


@router.get("", response_model=list[SiteLayoutOut])
async def list_sites(conn: Conn, _p: Viewer) -> list[dict[str, Any]]:
    """Sites with a park layout, and their current version."""
    cur = await conn.execute(
        "SELECT DISTINCT ON (l.site) l.site, l.version, l.imported_at,"
        " (SELECT count(*) FROM park_zones z WHERE z.site = l.site AND z.version = l.version)"
        " FROM park_layouts l ORDER BY l.site, l.version DESC"
    )
    return [
        {"site": site, "version": version, "imported_at": at, "zones": zones}
        for site, version, at, zones in await cur.fetchall()
    ]


def _not_found(site: str, version: int | None) -> ApiError:
    which = f"version {version} of the layout" if version is not None else "a layout"
    return ApiError(404, "layout_not_found", f"site {site!r} has no {which}; import one with `hazgate park import`")


@router.get("/{site}/layout", response_model=LayoutOut, responses={404: {"description": "no such layout"}})
async def get_layout(
    site: SiteName,
    conn: Conn,
    _p: Viewer,
    version: Annotated[int | None, Query(ge=1, description="an older version; default the current one")] = None,
) -> dict[str, Any]:
    """The site's layout as GeoJSON: the current version unless ``version`` names another."""
    cur = await conn.execute(
        "SELECT version, imported_at, imported_by, source FROM park_layouts WHERE site = %(site)s"
        " AND (%(version)s::integer IS NULL OR version = %(version)s) ORDER BY version DESC LIMIT 1",
        {"site": site, "version": version},
    )
    row = await cur.fetchone()
    if row is None:
        raise _not_found(site, version)
    found, imported_at, imported_by, source = row
    cur = await conn.execute(
        "SELECT feature FROM park_zones WHERE site = %s AND version = %s ORDER BY position", (site, found)
    )
    zones = [zone_from_feature(r[0]) for r in await cur.fetchall()]
    return feature_collection(
        zones, site=site, version=found, imported_at=imported_at, imported_by=imported_by, source=source
    )


# A tracker belongs to the open stay it was handed out to, else to the open stay of the plate it
# is mounted on (when that stay has no tracker of its own).
_VEHICLES_SQL: Final = """
SELECT d.device_id, coalesce(d.plate, v.plate), last.ts, last."values",
       coalesce(v.waybill_no, wb.waybill_no), coalesce(vw.record, wb.record) -> 'cargo',
       CASE WHEN v.id IS NOT NULL THEN v.entered_at ELSE entry.at END, v.id::text, v.state
FROM devices d
LEFT JOIN LATERAL (
    SELECT s.id, s.plate, s.waybill_no, s.entered_at, s.state FROM visits s
    WHERE s.site = d.site AND s.state <> 'closed'
      AND (s.tracker_device_id = d.device_id OR (s.tracker_device_id IS NULL AND s.plate = d.plate))
    ORDER BY s.created_at DESC LIMIT 1
) v ON true
JOIN LATERAL (
    SELECT t.ts, t."values" FROM telemetry t
    WHERE t.device_id = d.device_id AND t.ts > now() - %(max_age)s::interval
      AND t."values" ? 'lat' AND t."values" ? 'lon'
    ORDER BY t.ts DESC LIMIT 1
) last ON true
LEFT JOIN waybills vw ON vw.waybill_no = v.waybill_no
LEFT JOIN LATERAL (
    SELECT w.waybill_no, w.record FROM waybills w
    WHERE w.plate = coalesce(d.plate, v.plate) AND (w.record ->> 'valid_from')::timestamptz <= now()
      AND (w.record ->> 'valid_to')::timestamptz >= now()
    ORDER BY (w.record ->> 'valid_from')::timestamptz DESC LIMIT 1
) wb ON true
LEFT JOIN LATERAL (
    SELECT max(i.decided_at) AS at FROM inspections i
    WHERE i.plate = coalesce(d.plate, v.plate) AND i.site = d.site
      AND coalesce(i.override_result, i.result) = 'pass'
) entry ON true
WHERE d.site = %(site)s AND d.type = 'gps_tracker' AND d.enabled AND (d.plate IS NOT NULL OR v.id IS NOT NULL)
ORDER BY 2
"""


@router.get("/{site}/vehicles", response_model=list[VehicleOut])
async def list_vehicles(site: SiteName, conn: Conn, _p: Viewer) -> list[dict[str, Any]]:
    """Vehicles with a GPS tracker at this site and a position in the last day, for the map."""
    cur = await conn.execute(_VEHICLES_SQL, {"site": site, "max_age": POSITION_MAX_AGE})
    out = []
    for device_id, plate, ts, values, waybill_no, cargo, entered_at, visit_id, visit_state in await cur.fetchall():
        out.append(
            {
                "device_id": device_id,
                "plate": plate,
                "lat": values["lat"],
                "lon": values["lon"],
                "speed_kmh": values.get("speed_kmh"),
                "ts": ts,
                "cargo": None
                if cargo is None
                else {
                    "un": cargo.get("un"),
                    "name": cargo.get("name"),
                    "quantity_kg": cargo.get("quantity_kg"),
                    "waybill_no": waybill_no,
                },
                "entered_at": entered_at,
                "visit_id": visit_id,
                "visit_state": visit_state,
            }
        )
    return out
