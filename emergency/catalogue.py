"""Substances: the shipped tables (ERG 2016, the UN list) merged with the park's own catalogue.

:func:`resolve` is pure: given the shipped data and the park's entry for a UN number it returns
the one :class:`Substance` the API, the response card and notifications show. The park's entry
overrides names, class and guide, and adds what the shipped tables lack (Chinese names, a guide
for substances ERG's table does not map, which zones store it). Distances always come from ERG:
Table 1 for the materials it lists, else the guide's own isolation distances.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from emergency.erg import Erg, Guide, Material, Table3Entry, load_erg

DistanceSource = Literal["table1", "table1_water", "guide"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UnEntry(_Frozen):
    """A row of the shipped UN list: English proper shipping name and class."""

    un: str
    name_en: str
    hazard_class: str


class ZoneStore(_Frozen):
    """A zone of a site that stores the substance (from the park catalogue)."""

    site: str
    zone_id: str
    max_quantity_kg: float | None = None


class ParkEntry(_Frozen):
    """The park's own catalogue row for a UN number (``hazgate substances import``)."""

    un: str
    name_zh: str | None = None
    name_en: str | None = None
    hazard_class: str | None = None
    erg_guide: int | None = None
    notes: str | None = None
    zones: tuple[ZoneStore, ...] = ()


class Isolation(_Frozen):
    small: int | None = None
    large: int | None = None


class Protective(_Frozen):
    small_day: int | None = None
    small_night: int | None = None
    large_day: int | None = None
    large_night: int | None = None


class Substance(_Frozen):
    """One substance as hazgate knows it; the body of ``GET /api/v1/substances/{un}``."""

    un: str
    name_en: str | None
    name_zh: str | None = None
    hazard_class: str | None = None
    erg_guide: int | None = None
    guide_title: str | None = None
    tih: bool = False
    isolation_m: Isolation | None = None
    protective_m: Protective | None = None
    fire_isolation_m: int | None = None
    distance_source: DistanceSource | None = None
    water_reactive_gases: tuple[str, ...] = ()
    table3: tuple[Table3Entry, ...] = ()
    erg_name: str | None = None
    stored_in: tuple[ZoneStore, ...] = ()
    sources: tuple[str, ...] = ()
    notes: str | None = None


@cache
def load_un_list() -> dict[str, UnEntry]:
    """The shipped UN list (``hazgate/data/hazmat/un_numbers.csv``), read once."""
    text = resources.files("hazgate.data").joinpath("hazmat", "un_numbers.csv").read_text(encoding="utf-8")
    out: dict[str, UnEntry] = {}
    for row in csv.DictReader(io.StringIO(text)):
        un = f"UN{row['un'].strip()}"
        # The list repeats a number for variants (dry / wetted ...); the first names it.
        out.setdefault(un, UnEntry(un=un, name_en=row["name_en"].strip(), hazard_class=row["class"].strip()))
    return out


ERG_SOURCE: Final = "ERG 2016 (US DOT/PHMSA, Transport Canada, SCT); tables via Esri solutions-erg-widget"
UN_SOURCE: Final = "UN list after Wikipedia's List of UN numbers (CC BY-SA) via beTransIT/UN-Numbers"
PARK_SOURCE: Final = "park catalogue"


def _from_table(m: Material) -> tuple[Isolation, Protective | None, DistanceSource]:
    iso = Isolation(small=m.small.isolation_m, large=m.large.isolation_m)
    if not m.in_table1:
        return iso, None, "guide"
    protective = Protective(
        small_day=m.small.protective_day_m,
        small_night=m.small.protective_night_m,
        large_day=m.large.protective_day_m,
        large_night=m.large.protective_night_m,
    )
    return iso, protective, "table1_water" if m.in_water_only else "table1"


def resolve(
    un: str,
    park: ParkEntry | None = None,
    *,
    name: str | None = None,
    erg: Erg | None = None,
    un_list: dict[str, UnEntry] | None = None,
) -> Substance | None:
    """Everything known about ``un`` (canonical ``UN1017``); None when nothing is.

    ``name``: the cargo's name as the waybill gives it, to pick among ERG rows sharing a number.
    """
    erg = erg or load_erg()
    un_list = load_un_list() if un_list is None else un_list
    listed = un_list.get(un)
    material = erg.material(un, name or (park.name_en if park else None))
    if listed is None and material is None and park is None:
        return None
    sources = []
    if listed is not None:
        sources.append(UN_SOURCE)
    guide_no = park.erg_guide if park and park.erg_guide else (material.guide if material else None)
    iso: Isolation | None = None
    protective: Protective | None = None
    fire: int | None = None
    source: DistanceSource | None = None
    if material is not None and material.in_table1:
        iso, protective, source = _from_table(material)
        fire = material.fire_isolation_m
        sources.append(ERG_SOURCE)
    elif guide_no is not None and guide_no in erg.generic:
        # Not in Table 1: the guide's own isolation distances (ERG's generic row of the guide).
        g = erg.generic[guide_no]
        iso, source, fire = Isolation(small=g.small.isolation_m, large=g.large.isolation_m), "guide", g.fire_isolation_m
        sources.append(ERG_SOURCE)
    elif material is not None:
        iso, protective, source = _from_table(material)
        fire = material.fire_isolation_m
        sources.append(ERG_SOURCE)
    guide: Guide | None = erg.guides.get(guide_no) if guide_no is not None else None
    if park is not None:
        sources.append(PARK_SOURCE)
    return Substance(
        un=un,
        name_en=(park.name_en if park and park.name_en else None)
        or (listed.name_en if listed else None)
        or (material.name if material else None),
        name_zh=park.name_zh if park else None,
        hazard_class=(park.hazard_class if park and park.hazard_class else None)
        or (listed.hazard_class if listed else None),
        erg_guide=guide.number if guide else None,
        guide_title=guide.title if guide else None,
        tih=source == "table1",
        isolation_m=iso,
        protective_m=protective,
        fire_isolation_m=fire,
        distance_source=source,
        water_reactive_gases=material.water_reactive_gases if material else (),
        table3=material.table3 if material and source == "table1" else (),
        erg_name=material.name if material else None,
        stored_in=park.zones if park else (),
        sources=tuple(sources),
        notes=park.notes if park else None,
    )
