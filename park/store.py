"""The versioned layout tables (migration 0013) and the import (adapter).

An import validates the whole file first (:func:`park.layout.parse_layout`); with any error
nothing is written, the refusal is recorded in ``rejected`` and :class:`LayoutRefused` lists every
problem. Otherwise each site in the file gets a new version in one transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb

from park.errors import LayoutError, LayoutRefused
from park.layout import Layout, ZoneKind, ZoneSpec, build_layout, content_hash, parse_layout, zone_from_feature

logger = logging.getLogger(__name__)

# Rejected-table excerpt of a refused file: enough to recognise it.
EXCERPT_CHARS: Final = 500


@dataclass(frozen=True, slots=True)
class StoredLayout:
    site: str
    version: int
    imported_at: datetime
    imported_by: str
    source: str | None
    zones: tuple[ZoneSpec, ...]


def _record_refusal(conn: psycopg.Connection, source: str | None, problems: Sequence[Any], raw: str) -> None:
    errors = [p for p in problems if p.severity == "error"]
    detail = "; ".join(str(p) for p in errors[:20]) + (f"; and {len(errors) - 20} more" if len(errors) > 20 else "")
    conn.execute(
        "INSERT INTO rejected (source, topic, reason, detail, payload_excerpt, payload_bytes)"
        " VALUES ('import', %s, 'invalid_layout', %s, %s, %s)",
        (f"park import {source or ''}".strip(), detail, raw[:EXCERPT_CHARS], len(raw.encode())),
    )


def import_layout(
    conninfo: str,
    doc: object,
    *,
    imported_by: str,
    source: str | None = None,
    raw: str | None = None,
    skip_unchanged: bool = False,
) -> dict[str, Any]:
    """Validate and store; each site in the document gets a new version.

    ``skip_unchanged``: a site whose current version has the same zones keeps it (``make run``
    imports the demo park at every start). Returns ``{"sites": [{"site", "version", "zones",
    "by_kind", "unchanged"}], "warnings": [...]}``.
    """
    by_site, problems = parse_layout(doc)
    warnings = [p.as_dict() for p in problems if p.severity == "warning"]
    with psycopg.connect(conninfo) as conn:
        if any(p.severity == "error" for p in problems):
            _record_refusal(conn, source, problems, raw if raw is not None else json.dumps(doc, default=str))
            conn.commit()
            raise LayoutRefused(problems)
        sites = [_store_site(conn, site, zones, imported_by, source, skip_unchanged) for site, zones in by_site.items()]
    return {"sites": sites, "warnings": warnings}


def _store_site(
    conn: psycopg.Connection, site: str, zones: list[ZoneSpec], imported_by: str, source: str | None, skip: bool
) -> dict[str, Any]:
    digest = content_hash(zones)
    by_kind: dict[str, int] = {}
    for z in zones:
        by_kind[z.kind.value] = by_kind.get(z.kind.value, 0) + 1
    # One importer per site at a time: version numbers are taken in order.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('hazgate.park:' || %s))", (site,))
    row = conn.execute(
        "SELECT version, content_sha256 FROM park_layouts WHERE site = %s ORDER BY version DESC LIMIT 1", (site,)
    ).fetchone()
    if skip and row is not None and row[1] == digest:
        return {"site": site, "version": row[0], "zones": len(zones), "by_kind": by_kind, "unchanged": True}
    version = 1 if row is None else int(row[0]) + 1
    conn.execute(
        "INSERT INTO park_layouts (site, version, imported_by, source, content_sha256) VALUES (%s, %s, %s, %s, %s)",
        (site, version, imported_by, source, digest),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO park_zones (site, version, zone_id, position, kind, name, speed_limit_kmh, max_stop_s,"
            " gate_id, feature) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    site,
                    version,
                    z.zone_id,
                    i,
                    z.kind.value,
                    z.name,
                    z.speed_limit_kmh,
                    z.max_stop_s,
                    z.gate_id,
                    Jsonb(z.feature()),
                )
                for i, z in enumerate(zones)
            ],
        )
    logger.info("site %s: layout version %d with %d zones imported by %s", site, version, len(zones), imported_by)
    return {"site": site, "version": version, "zones": len(zones), "by_kind": by_kind, "unchanged": False}


def import_file(conninfo: str, path: Path, *, imported_by: str, skip_unchanged: bool = False) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LayoutError(f"cannot read {path}: {exc}", hint="pass a GeoJSON file (UTF-8)") from exc
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise LayoutError(
            f"{path} is not JSON: {exc}", hint="export the layout as GeoJSON (a FeatureCollection) and try again"
        ) from exc
    return import_layout(
        conninfo, doc, imported_by=imported_by, source=path.name, raw=raw, skip_unchanged=skip_unchanged
    )


# --- reading ---------------------------------------------------------------------------------------

_LAYOUT_SQL: Final = (
    "SELECT l.site, l.version, l.imported_at, l.imported_by, l.source FROM park_layouts l"
    " WHERE l.site = %(site)s AND (%(version)s::integer IS NULL OR l.version = %(version)s)"
    " ORDER BY l.version DESC LIMIT 1"
)
_ZONES_SQL: Final = "SELECT feature FROM park_zones WHERE site = %s AND version = %s ORDER BY position"
_CURRENT_ZONES_SQL: Final = (
    "SELECT z.site, z.version, z.feature FROM park_zones z"
    " JOIN (SELECT site, max(version) AS version FROM park_layouts GROUP BY site) c"
    " ON c.site = z.site AND c.version = z.version ORDER BY z.site, z.position"
)


def stored_layout(conn: psycopg.Connection, site: str, version: int | None = None) -> StoredLayout | None:
    """A site's current layout (or the given version), or None."""
    row = conn.execute(_LAYOUT_SQL, {"site": site, "version": version}).fetchone()
    if row is None:
        return None
    zones = tuple(zone_from_feature(r[0]) for r in conn.execute(_ZONES_SQL, (row[0], row[1])).fetchall())
    return StoredLayout(row[0], row[1], row[2], row[3], row[4], zones)


def current_layouts(conn: psycopg.Connection) -> dict[str, Layout]:
    """Every site's current layout, ready for the rules. A stored zone that no longer reads is
    left out, loudly (it was valid when imported; a later release may be stricter)."""
    specs: dict[tuple[str, int], list[ZoneSpec]] = {}
    for site, version, feature in conn.execute(_CURRENT_ZONES_SQL).fetchall():
        try:
            specs.setdefault((site, version), []).append(zone_from_feature(feature))
        except ValueError as exc:
            logger.error("site %s layout %d: a zone cannot be read and is left out: %s", site, version, exc)
    return {site: build_layout(site, version, zones) for (site, version), zones in specs.items() if zones}


def zone_at(conn: psycopg.Connection, site: str, lon: float, lat: float) -> str | None:
    """The most specific zone of the site's current layout at a position (a filling bay before
    the road beside it; never the park boundary itself); None outside every zone or without a layout."""
    stored = stored_layout(conn, site)
    if stored is None or not stored.zones:
        return None
    layout = build_layout(site, stored.version, stored.zones)
    inner = [z for z in layout.zones_at(lon, lat) if z.kind is not ZoneKind.PARK_BOUNDARY]
    return inner[0].zone_id if inner else None
