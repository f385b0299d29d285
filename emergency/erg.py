"""The Emergency Response Guidebook 2016 as typed data: guide pages and the distance tables.

Parsed once from the files shipped in ``hazgate/data/hazmat/erg2016/`` (see its NOTICE.md):

- ``guides/NNN.txt``: the 64 orange guide pages as text in page layout. :func:`parse_guide` turns
  one into its five fields (hazards, public safety, fire, spill or leak, first aid), each a tuple
  of bullets and paragraphs. A bullet under a sub-heading carries it as a prefix ("Small fire:
  Dry chemical, CO2 ..."), so every item reads on its own in an e-mail or a webhook body.
- ``materials.json``: Table 1 (initial isolation and protective action distances, small and
  large spill, day and night), Table 2 (water-reactive materials and the gases they make),
  Table 3 (large spills of six common TIH gases by container and wind) and the generic rows
  (``IDNum`` 0) that give each guide's own isolation distances.

Pure: parsing takes text, :func:`load_erg` reads the shipped files once per process.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from emergency.errors import CatalogueError

GUIDE_FIELDS: Final = ("hazards", "public_safety", "fire", "spill", "first_aid")
GuideField = Literal["hazards", "public_safety", "fire", "spill", "first_aid"]

# Top-level headings of a guide page and the field each opens.
_SECTIONS: Final[Mapping[str, GuideField | None]] = {
    "POTENTIAL HAZARDS": None,  # a header only: FIRE OR EXPLOSION / HEALTH follow
    "FIRE OR EXPLOSION": "hazards",
    "HEALTH": "hazards",
    "PUBLIC SAFETY": "public_safety",
    "PROTECTIVE CLOTHING": "public_safety",
    "EVACUATION": "public_safety",
    "EMERGENCY RESPONSE": None,  # a header only: FIRE / SPILL OR LEAK / FIRST AID follow
    "FIRE": "fire",
    "SPILL OR LEAK": "spill",
    "FIRST AID": "first_aid",
    "SUPPLEMENTAL INFORMATION": "first_aid",  # guide 114: after first aid, kept with it
}
# Headings that become the prefix of the bullets under them (PUBLIC SAFETY's own are bare).
_PREFIXED: Final = frozenset(
    {"FIRE OR EXPLOSION", "HEALTH", "PROTECTIVE CLOTHING", "EVACUATION", "SUPPLEMENTAL INFORMATION"}
)
# Sub-headings inside a section: "Small Fire", "Large Spill", "Fire involving Tanks ...".
_SUBHEADING: Final = re.compile(r"^(Small|Large|Liquid|Powder|CARGO|TIRE|Fire|Spill)\b[^.]{0,90}$")
_PAGE_MARK: Final = re.compile(r"^(ERG 2016\s*Page \d+|Page \d+\s*ERG 2016|GUIDE|\d{3}|Page intentionally left blank)$")
_BULLET: Final = "•"
# Canada's ERAP notice closes many pages; it concerns Canadian shipments only.
_SKIPPED_PARAGRAPHS: Final = ("In Canada, an Emergency Response Assistance Plan",)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Guide(_Frozen):
    """One orange guide page, split into the five fields of the response card."""

    number: int
    title: str
    hazards: tuple[str, ...]
    public_safety: tuple[str, ...]
    fire: tuple[str, ...]
    spill: tuple[str, ...]
    first_aid: tuple[str, ...]

    def sections(self) -> dict[str, list[str]]:
        return {name: list(getattr(self, name)) for name in GUIDE_FIELDS}


class SpillDistances(_Frozen):
    """Table 1 for one spill size: isolate in all directions, then protect downwind by day / night."""

    isolation_m: int | None = None
    protective_day_m: int | None = None
    protective_night_m: int | None = None


WindClass = Literal["low", "moderate", "high"]
CONTAINERS: Final = {
    "RAIL": "rail_tank_car",
    "SEMI": "highway_tank_truck",
    "AG": "agricultural_nurse_tank",
    "MSM": "multiple_small_cylinders",
    "STON": "ton_cylinder",
    "MTON": "multiple_ton_cylinders",
}


class Table3Entry(_Frozen):
    """Table 3: a large spill of one container type; protective distances by wind speed.

    Wind classes of ERG 2016: low < 10 km/h, moderate 10-20 km/h, high > 20 km/h.
    """

    container: str
    isolation_m: int
    day_m: dict[WindClass, int]
    night_m: dict[WindClass, int]


class Material(_Frozen):
    """One row of ERG's tables for a UN number (or a guide's generic row, ``un`` None)."""

    un: str | None
    name: str
    guide: int
    small: SpillDistances
    large: SpillDistances
    fire_isolation_m: int | None = None
    # Table 1 lists the material (green in the guidebook): toxic by inhalation, or making a
    # toxic gas in water. ``in_water_only``: the row applies "when spilled in water".
    in_table1: bool = False
    in_water_only: bool = False
    water_reactive_gases: tuple[str, ...] = ()
    table3: tuple[Table3Entry, ...] = ()

    @property
    def protective_rank(self) -> tuple[int, int]:
        """Larger is more conservative: the choice among rows of one UN number named differently."""
        return (self.large.protective_night_m or 0, self.small.protective_night_m or 0)


class Erg(_Frozen):
    guides: dict[int, Guide]
    # UN number (``UN1017``) -> its rows (several names may share a number).
    materials: dict[str, tuple[Material, ...]]
    generic: dict[int, Material]

    def material(self, un: str, name: str | None = None) -> Material | None:
        """The row for ``un``: the one named ``name`` when given and found, else the most
        conservative (largest protective distances) of its land rows, else its water rows."""
        rows = self.materials.get(un, ())
        if not rows:
            return None
        if name:
            wanted = name.strip().casefold()
            for row in rows:
                if row.name.casefold() == wanted:
                    return row
        land = [r for r in rows if not r.in_water_only] or list(rows)
        return max(land, key=lambda r: r.protective_rank)


# --- guide pages -------------------------------------------------------------------------------


def _is_title_line(line: str) -> bool:
    """Guide titles are upper-case lines ("GASES - TOXIC AND/OR CORROSIVE - OXIDIZING")."""
    return (
        any(c.isalpha() for c in line)
        and not any(c.islower() for c in line)
        and not line.endswith(".")
        and not line.startswith(("*", _BULLET))
        and line not in _SECTIONS
    )


def _clean(text: str) -> str:
    text = text.replace("ﬁ", "fi").replace("ﬂ", "fl").replace("’", "'")
    return re.sub(r"\s+", " ", text).strip()


def _label(heading: str) -> str:
    return heading[:1].upper() + heading[1:].lower()


def parse_guide(number: int, text: str) -> Guide:
    """Split one guide page into its fields; raises :class:`CatalogueError` when one is empty."""
    fields: dict[str, list[str]] = {name: [] for name in GUIDE_FIELDS}
    title_parts: list[str] = []
    title_done = False
    section: GuideField | None = None
    heading = ""  # the prefixed heading in force (PROTECTIVE CLOTHING ...)
    sub = ""  # the sub-heading in force (Small Fire ...)
    current: list[str] | None = None  # the item lines being gathered
    target = "none"  # where continuation lines go: item, title, skip, none
    prev_raw = ""

    def flush() -> None:
        nonlocal current
        if current is not None and section is not None:
            body = _clean(" ".join(current))
            prefix = ", ".join(p for p in (_label(heading) if heading else "", sub.lower() if heading else sub) if p)
            fields[section].append(f"{prefix}: {body}" if prefix else body)
        current = None

    # A few pages run two bullets into one line ("... fresh air. •  Call 911 ..."): split them.
    text = re.sub(r"(?<=\S)[ \t]*•", "\n•", text.replace("\r\n", "\n"))
    for raw in text.split("\n"):
        line = raw.strip()
        continued = prev_raw.endswith((" ", "\t")) or (line[:1].islower() or line[:1].isdigit())
        prev_raw = raw
        if not line or _PAGE_MARK.match(line):
            continue
        if continued and target in ("item", "skip", "title") and not line.startswith(_BULLET) and line not in _SECTIONS:
            if target == "item" and current is not None:
                current.append(line)
            elif target == "title" and not title_done:
                title_parts.append(line)
            continue
        if line in _SECTIONS:
            flush()
            if title_parts:
                title_done = True
            if _SECTIONS[line] is not None:
                section = _SECTIONS[line]
            heading = line if line in _PREFIXED else ""
            sub = ""
            target = "none"
            continue
        if line.startswith(_BULLET):
            flush()
            if title_parts:
                title_done = True
            current = [line.lstrip(_BULLET)]
            target = "item"
            continue
        if line.startswith("*") or line.startswith(_SKIPPED_PARAGRAPHS):
            flush()
            target = "skip"
            continue
        if _is_title_line(line.replace("*GUIDE", "").replace("* GUIDE", "")):
            flush()
            if not title_done:
                title_parts.append(line.replace("* GUIDE", "").replace("*GUIDE", "").replace("*", ""))
            target = "title"
            continue
        if title_parts:
            title_done = True
        flush()
        if _SUBHEADING.match(line) and section in ("fire", "spill", "public_safety"):
            sub = _clean(line)
            target = "none"
            continue
        current = [line]  # a paragraph: CAUTION: ..., EXCEPTION: ...
        target = "item"
    flush()
    empty = [name for name in GUIDE_FIELDS if not fields[name]]
    title = _clean(" ".join(title_parts))
    if empty or not title:
        raise CatalogueError(
            f"guide {number}: could not find {', '.join(empty) or 'the title'} in its text",
            hint="the shipped guide text is damaged; restore hazgate/data/hazmat/erg2016/guides from the release",
        )
    return Guide(number=number, title=title, **{name: tuple(items) for name, items in fields.items()})


# --- tables ------------------------------------------------------------------------------------


def _int(row: Mapping[str, Any], key: str) -> int | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    return int(value)


_WINDS: Final[tuple[tuple[WindClass, str], ...]] = (("low", "LOW"), ("moderate", "MOD"), ("high", "HI"))


def _table3(row: Mapping[str, Any]) -> tuple[Table3Entry, ...]:
    out = []
    for prefix, container in CONTAINERS.items():
        iso = _int(row, f"{prefix}_ISO")
        if iso is None:
            continue
        day: dict[WindClass, int] = {}
        night: dict[WindClass, int] = {}
        for wind, key in _WINDS:
            if (d := _int(row, f"{prefix}DY{key}")) is not None:
                day[wind] = d
            if (n := _int(row, f"{prefix}NTE{key}")) is not None:
                night[wind] = n
        out.append(Table3Entry(container=container, isolation_m=iso, day_m=day, night_m=night))
    return tuple(out)


def parse_material(row: Mapping[str, Any]) -> Material:
    un_num = int(row["IDNum"])
    name = str(row["Material"]).strip()
    water = str(row.get("TABLE2", "")).lower() == "yes"
    gases = tuple(g.strip() for g in str(row.get("TIH") or "").split(",") if g.strip()) if water else ()
    small = SpillDistances(
        isolation_m=_int(row, "SM_ISO"), protective_day_m=_int(row, "SM_DY"), protective_night_m=_int(row, "SM_NTE")
    )
    large = SpillDistances(
        isolation_m=_int(row, "LG_ISO"), protective_day_m=_int(row, "LG_DY"), protective_night_m=_int(row, "LG_NTE")
    )
    return Material(
        un=f"UN{un_num:04d}" if un_num else None,
        name=name,
        guide=int(row["GuideNum"]),
        small=small,
        large=large,
        fire_isolation_m=_int(row, "FIRE_ISO"),
        in_table1=un_num != 0 and small.protective_night_m is not None,
        in_water_only="when spilled in water" in name.lower(),
        water_reactive_gases=tuple(dict.fromkeys(gases)),
        table3=_table3(row),
    )


def build_erg(guide_texts: Mapping[int, str], material_rows: Iterable[Mapping[str, Any]]) -> Erg:
    guides = {n: parse_guide(n, text) for n, text in sorted(guide_texts.items())}
    by_un: dict[str, list[Material]] = defaultdict(list)
    generic: dict[int, Material] = {}
    for row in material_rows:
        m = parse_material(row)
        if m.guide not in guides:
            raise CatalogueError(
                f"ERG table row {m.name!r} names guide {m.guide}, which is not shipped",
                hint="restore hazgate/data/hazmat/erg2016 from the release",
            )
        if m.un is None:
            generic.setdefault(m.guide, m)
        else:
            by_un[m.un].append(m)
    return Erg(guides=guides, materials={un: tuple(rows) for un, rows in by_un.items()}, generic=generic)


@cache
def load_erg() -> Erg:
    """The shipped ERG 2016, parsed on first use and kept for the process."""
    root = resources.files("hazgate.data").joinpath("hazmat", "erg2016")
    texts = {}
    for entry in root.joinpath("guides").iterdir():
        if entry.name.endswith(".txt"):
            texts[int(entry.name.removesuffix(".txt"))] = entry.read_text(encoding="utf-8")
    rows = json.loads(root.joinpath("materials.json").read_text(encoding="utf-8"))
    return build_erg(texts, rows)
