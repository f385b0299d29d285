"""The park's own substance catalogue: ``hazgate substances import FILE.csv`` and its table.

CSV (UTF-8, header row; only ``un`` is required)::

    un,name_zh,name_en,class,erg_guide,site,zones,max_quantity_kg,notes
    UN1203,汽油,Gasoline,3,128,north,T1;T2,500000,储罐区
    UN1017,液氯,,2.3,,north,CL1,,

``zones``: zone ids of ``site`` (separated by ``;``) that store the substance. A UN number may
appear on several rows (one per site); its names, class and guide must then agree. An import is
all or nothing: every row is checked first and a bad row refuses the file, naming the row and
field. It adds or replaces the entries it names; for each (UN number, site) it names, the zones
listed replace the ones stored before. Tables: migration 0011.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any, Final

import psycopg
from pydantic import BaseModel, ConfigDict

from emergency.catalogue import ParkEntry, ZoneStore
from emergency.erg import load_erg
from hazgate.errors import HazgateError
from registry.identifiers import normalize_un_number

COLUMNS: Final = ("un", "name_zh", "name_en", "class", "erg_guide", "site", "zones", "max_quantity_kg", "notes")
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CLASS: Final = re.compile(r"^[1-9](\.[1-6])?$")
MAX_TEXT: Final = 500


class RowProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    row: int  # 1-based line number in the file (the header is line 1)
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.row}, {self.field}: {self.message}"


class CatalogueImportRefused(HazgateError):
    def __init__(self, problems: list[RowProblem]) -> None:
        listed = "".join(f"\n  {p}" for p in problems[:5]) + ("\n  ..." if len(problems) > 5 else "")
        super().__init__(
            f"the substance catalogue has {len(problems)} problem(s); nothing was imported:{listed}",
            hint="fix the lines listed and import the file again",
        )
        self.problems = problems


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def parse_catalogue(text: str) -> list[ParkEntry]:
    """Parse and check the CSV; raises :class:`CatalogueImportRefused` listing every problem."""
    problems: list[RowProblem] = []
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = sorted(set(header) - set(COLUMNS))
    if "un" not in header:
        raise CatalogueImportRefused(
            [RowProblem(row=1, field="header", message=f"needs a 'un' column; columns: {', '.join(COLUMNS)}")]
        )
    if unknown:
        raise CatalogueImportRefused(
            [RowProblem(row=1, field="header", message=f"unknown columns {unknown}; known: {', '.join(COLUMNS)}")]
        )
    guides = load_erg().guides
    entries: dict[str, ParkEntry] = {}
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v if isinstance(v, str) else None) for k, v in raw.items() if k is not None}
        if None in raw:
            problems.append(
                RowProblem(row=line, field="row", message="more values than columns (quote text with commas)")
            )
            continue
        before = len(problems)
        try:
            un = normalize_un_number(row.get("un") or "")
        except ValueError as exc:
            problems.append(RowProblem(row=line, field="un", message=str(exc)))
            continue
        for key in ("name_zh", "name_en", "notes"):
            if len(row.get(key) or "") > MAX_TEXT:
                problems.append(RowProblem(row=line, field=key, message=f"longer than {MAX_TEXT} characters"))
        klass = _text(row.get("class"))
        if klass is not None and not _CLASS.match(klass):
            problems.append(
                RowProblem(row=line, field="class", message=f"{klass!r} is not a hazard class such as 2.3 or 8")
            )
        guide: int | None = None
        if (g := _text(row.get("erg_guide"))) is not None:
            if not g.isdigit() or int(g) not in guides:
                problems.append(
                    RowProblem(row=line, field="erg_guide", message=f"{g!r} is not an ERG 2016 guide (111-174)")
                )
            else:
                guide = int(g)
        site = _text(row.get("site"))
        zone_ids = [z.strip() for z in (row.get("zones") or "").split(";") if z.strip()]
        if zone_ids and site is None:
            problems.append(RowProblem(row=line, field="site", message="zones are named within a site: fill in 'site'"))
        for z in [site, *zone_ids]:
            if z is not None and not _NAME.match(z):
                problems.append(RowProblem(row=line, field="zones", message=f"{z!r} is not a valid site or zone id"))
        quantity: float | None = None
        if (q := _text(row.get("max_quantity_kg"))) is not None:
            try:
                quantity = float(q)
                if not quantity > 0 or quantity != quantity or quantity == float("inf"):
                    raise ValueError
            except ValueError:
                problems.append(
                    RowProblem(row=line, field="max_quantity_kg", message=f"{q!r} is not a positive number")
                )
        if len(problems) > before:
            continue
        zones = tuple(ZoneStore(site=site, zone_id=z, max_quantity_kg=quantity) for z in zone_ids if site)
        new = ParkEntry(
            un=un,
            name_zh=_text(row.get("name_zh")),
            name_en=_text(row.get("name_en")),
            hazard_class=klass,
            erg_guide=guide,
            notes=_text(row.get("notes")),
            zones=zones,
        )
        old = entries.get(un)
        if old is None:
            entries[un] = new
            continue
        for key in ("name_zh", "name_en", "hazard_class", "erg_guide", "notes"):
            a, b = getattr(old, key), getattr(new, key)
            if a is not None and b is not None and a != b:
                problems.append(
                    RowProblem(row=line, field=key, message=f"{un} has {a!r} on an earlier line and {b!r} here")
                )
        merged = {
            k: getattr(old, k) if getattr(old, k) is not None else getattr(new, k)
            for k in ("name_zh", "name_en", "hazard_class", "erg_guide", "notes")
        }
        entries[un] = ParkEntry(un=un, zones=old.zones + new.zones, **merged)
    if problems:
        raise CatalogueImportRefused(problems)
    if not entries:
        raise CatalogueImportRefused([RowProblem(row=1, field="file", message="no rows")])
    return list(entries.values())


# --- the table (adapter) ---------------------------------------------------------------------


def write_catalogue(conn: psycopg.Connection, entries: Iterable[ParkEntry], actor: str) -> dict[str, int]:
    """Upsert the entries in the caller's transaction; zones replace those of the sites named."""
    n_entries = n_zones = 0
    for e in entries:
        conn.execute(
            "INSERT INTO park_substances (un, name_zh, name_en, hazard_class, erg_guide, notes, updated_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (un) DO UPDATE SET"
            " name_zh = COALESCE(EXCLUDED.name_zh, park_substances.name_zh),"
            " name_en = COALESCE(EXCLUDED.name_en, park_substances.name_en),"
            " hazard_class = COALESCE(EXCLUDED.hazard_class, park_substances.hazard_class),"
            " erg_guide = COALESCE(EXCLUDED.erg_guide, park_substances.erg_guide),"
            " notes = COALESCE(EXCLUDED.notes, park_substances.notes),"
            " updated_by = EXCLUDED.updated_by, updated_at = now()",
            (e.un, e.name_zh, e.name_en, e.hazard_class, e.erg_guide, e.notes, actor),
        )
        n_entries += 1
        for site in sorted({z.site for z in e.zones}):
            conn.execute("DELETE FROM zone_substances WHERE un = %s AND site = %s", (e.un, site))
        for z in e.zones:
            conn.execute(
                "INSERT INTO zone_substances (site, zone_id, un, max_quantity_kg) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (site, zone_id, un) DO UPDATE SET max_quantity_kg = EXCLUDED.max_quantity_kg",
                (z.site, z.zone_id, e.un, z.max_quantity_kg),
            )
            n_zones += 1
    return {"substances": n_entries, "zone_entries": n_zones}


def park_entry(conn: psycopg.Connection, un: str) -> ParkEntry | None:
    row = conn.execute(
        "SELECT un, name_zh, name_en, hazard_class, erg_guide, notes FROM park_substances WHERE un = %s", (un,)
    ).fetchone()
    if row is None:
        return None
    zones = conn.execute(
        "SELECT site, zone_id, max_quantity_kg FROM zone_substances WHERE un = %s ORDER BY site, zone_id", (un,)
    ).fetchall()
    return ParkEntry(
        un=row[0],
        name_zh=row[1],
        name_en=row[2],
        hazard_class=row[3],
        erg_guide=row[4],
        notes=row[5],
        zones=tuple(ZoneStore(site=z[0], zone_id=z[1], max_quantity_kg=z[2]) for z in zones),
    )


def zone_substances(conn: psycopg.Connection, site: str, zone_id: str) -> list[str]:
    """UN numbers a zone stores, by the park catalogue."""
    rows = conn.execute(
        "SELECT un FROM zone_substances WHERE site = %s AND zone_id = %s ORDER BY un", (site, zone_id)
    ).fetchall()
    return [r[0] for r in rows]


def import_catalogue(conninfo: str, text: str, actor: str) -> dict[str, Any]:
    entries = parse_catalogue(text)
    with psycopg.connect(conninfo) as conn, conn.transaction():
        counts = write_catalogue(conn, entries, actor)
    return {"imported": counts, "un": [e.un for e in entries]}
