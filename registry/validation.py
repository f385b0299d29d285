"""Row-by-row validation of a registry import file, reporting every problem at once.

``validate_registry`` never stops at the first bad row: each row is validated alone, every bad
field becomes a ``RowError``, and the file is then cross-checked (duplicates, references). A
row with an error is left out of the result, and so is every row that points at it (a waybill
of a refused vehicle): the rest of the file stands.

References that point outside the file (a vehicle of a carrier imported last month) are not
errors in a first pass: they come back as warnings with ``unresolved`` set. The importer looks
those keys up in the database (``references_to_resolve``) and validates again with what it found
(``known=``): a reference found there is fine, one that is not is an error. Problems found
outside validation (a photo file that cannot be read) go in with ``refused=``, so rows pointing
at such a row are refused too. (``resolve_references`` does the lookup's part on a list of
problems alone, without leaving rows out.)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from registry.identifiers import canonical_plate
from registry.models import Carrier, EnrolmentFlag, Person, RegistryFile, RegistryModel, Role, Vehicle, Waybill


class Section(StrEnum):
    CARRIERS = "carriers"
    VEHICLES = "vehicles"
    PERSONNEL = "personnel"
    WAYBILLS = "waybills"


class Severity(StrEnum):
    ERROR = "error"  # the row cannot be imported as it is
    WARNING = "warning"  # the row can be imported, but someone should know


class Reference(BaseModel):
    """A row that another row points at: ``section`` and its key (carrier id, plate, ID number)."""

    model_config = ConfigDict(frozen=True)

    section: Section
    key: str


class RowError(BaseModel):
    """One problem with one row. ``index`` is the row's position in its section (from 0).

    ``section`` is a ``Section`` value, or the name of an unknown top-level key. ``index``,
    ``key`` and ``field`` are None when the problem is not about one row, key or field.
    ``unresolved`` is set on warnings about a reference that is not in this file.
    """

    model_config = ConfigDict(frozen=True)

    section: str
    index: int | None
    key: str | None
    field: str | None
    message: str
    severity: Severity = Severity.ERROR
    unresolved: Reference | None = None

    def __str__(self) -> str:
        where = self.section if self.index is None else f"{self.section}[{self.index}]"
        if self.key:
            where += f" ({self.key})"
        if self.field:
            where += f" {self.field}"
        return f"{self.severity.value}: {where}: {self.message}"


class RowFlag(BaseModel):
    """A row imported with a limitation (``flag`` says which and why). ``index`` as in RowError."""

    model_config = ConfigDict(frozen=True)

    section: Section
    index: int
    key: str
    field: str | None
    flag: EnrolmentFlag

    def __str__(self) -> str:
        issue = f", {self.flag.issue}" if self.flag.issue else ""
        where = f"{self.section.value}[{self.index}] ({self.key})" + (f" {self.field}" if self.field else "")
        return f"flag: {where}: {self.flag.code.value} ({self.flag.reason}{issue}): {self.flag.message}"


_MODELS: dict[Section, type[RegistryModel]] = {
    Section.CARRIERS: Carrier,
    Section.VEHICLES: Vehicle,
    Section.PERSONNEL: Person,
    Section.WAYBILLS: Waybill,
}
_SECTION_RANK = {section.value: rank for rank, section in enumerate(Section)}
_KEY_FIELDS = {
    Section.CARRIERS: "id",
    Section.VEHICLES: "plate",
    Section.PERSONNEL: "id_number",
    Section.WAYBILLS: "waybill_no",
}
# Friendlier words for pydantic's error types that say nothing specific to our format.
_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field: check its spelling against the import format",
    "float_type": "must be a number, written without quotes",
}


def _canonical_key(section: Section, raw: str) -> str:
    if section is Section.VEHICLES:
        return canonical_plate(raw)
    return raw.strip().upper() if section is Section.PERSONNEL else raw.strip()


def _raw_key(section: Section, row: object) -> str | None:
    if not isinstance(row, Mapping):
        return None
    value = row.get(_KEY_FIELDS[section])
    if isinstance(value, str) and value.strip():
        return _canonical_key(section, value)
    return None


def _field_path(loc: tuple[int | str, ...]) -> str | None:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or None


class _Validator:
    """Accumulates valid rows and problems for one file."""

    def __init__(self, today: date | None, known: Mapping[Section, Collection[str]] | None = None) -> None:
        self.context = {"today": today}
        self.known = known
        self.problems: list[RowError] = []
        self.valid: dict[Section, dict[str, tuple[int, Any]]] = {section: {} for section in Section}
        # Keys of rows that were refused, so a reference to them is an error rather than a lookup.
        self.refused: dict[Section, dict[str, int]] = {section: {} for section in Section}

    def add(
        self,
        section: Section | str,
        index: int | None,
        key: str | None,
        field: str | None,
        message: str,
        severity: Severity = Severity.ERROR,
        unresolved: Reference | None = None,
    ) -> None:
        problem = RowError(
            section=section,
            index=index,
            key=key,
            field=field,
            message=message,
            severity=severity,
            unresolved=unresolved,
        )
        self.problems.append(problem)
        if severity is Severity.ERROR and index is not None and isinstance(section, Section) and key is not None:
            self.refuse(section, key, index)

    def refuse(self, section: Section, key: str, index: int) -> None:
        """Leave the row out of the result; a reference to it then is an error, not a lookup."""
        found = self.valid[section].get(key)
        if found is not None and found[0] == index:
            del self.valid[section][key]
        self.refused[section].setdefault(key, index)

    def section(self, section: Section, rows: object) -> None:
        if rows is None:
            return
        if not isinstance(rows, list):
            self.add(section, None, None, None, "must be a list of rows")
            return
        for index, row in enumerate(rows):
            self.row(section, index, row)

    def row(self, section: Section, index: int, row: object) -> None:
        key = _raw_key(section, row)
        if not isinstance(row, Mapping):
            self.add(section, index, None, None, "each row must be a JSON object")
            return
        try:
            record = _MODELS[section].model_validate(row, context=self.context)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            item_locs = {error["loc"][:-1] for error in errors if error["loc"] and isinstance(error["loc"][-1], int)}
            for error in errors:
                if error["type"] == "too_short" and error["loc"] in item_locs:
                    continue  # "too few items" only because an item was refused: already reported
                message = _MESSAGES.get(error["type"], error["msg"]).removeprefix("Value error, ")
                self.add(section, index, key, _field_path(error["loc"]), message)
            return
        key = getattr(record, _KEY_FIELDS[section])
        first = self.valid[section].get(key)
        if first is not None:
            self.add(section, index, key, _KEY_FIELDS[section], f"duplicate of {section.value}[{first[0]}]")
            return
        self.valid[section][key] = (index, record)

    def reference(self, section: Section, index: int, key: str, field: str, target: Reference) -> Any | None:
        """The row of this file that ``target`` names, or None after recording why it is not usable."""
        found = self.valid[target.section].get(target.key)
        if found is not None:
            return found[1]
        refused = self.refused[target.section].get(target.key)
        if refused is not None:
            message = f"{target.key} is {target.section.value}[{refused}], which has errors: fix that row first"
            self.add(section, index, key, field, message)
        elif self.known is not None:
            if target.key not in self.known.get(target.section, ()):
                self.add(section, index, key, field, f"{target.key} is neither in this file nor in the registry")
        else:
            message = f"{target.key} is not in this file; it must already be in the registry"
            self.add(section, index, key, field, message, Severity.WARNING, target)
        return None


def _check_tanks(v: _Validator) -> None:
    seen: dict[str, int] = {}
    for index, vehicle in list(v.valid[Section.VEHICLES].values()):
        first = seen.setdefault(vehicle.tank.id, index)
        if first != index:
            v.add(
                Section.VEHICLES,
                index,
                vehicle.plate,
                "tank.id",
                f"tank {vehicle.tank.id} is also on vehicles[{first}]",
            )


def _check_person_roles(v: _Validator) -> None:
    for index, person in v.valid[Section.PERSONNEL].values():
        for role in person.roles:
            if role is not person.qualification_class:
                v.add(
                    Section.PERSONNEL,
                    index,
                    person.id_number,
                    "roles",
                    f"role {role.value} but a {person.qualification_class.value} qualification: "
                    f"the gate will refuse this person as {role.value}",
                    Severity.WARNING,
                )


def _check_waybill(v: _Validator, index: int, waybill: Waybill) -> None:
    key = waybill.waybill_no
    vehicle = v.reference(Section.WAYBILLS, index, key, "plate", Reference(section=Section.VEHICLES, key=waybill.plate))
    if isinstance(vehicle, Vehicle):
        if waybill.cargo.un not in vehicle.tank.permitted_un:
            v.add(
                Section.WAYBILLS,
                index,
                key,
                "cargo.un",
                f"{waybill.cargo.un} is not a permitted medium of tank {vehicle.tank.id} on {vehicle.plate}; "
                "the gate will refuse it",
                Severity.WARNING,
            )
        if waybill.cargo.quantity_kg > vehicle.rated_load_kg:
            v.add(
                Section.WAYBILLS,
                index,
                key,
                "cargo.quantity_kg",
                f"{waybill.cargo.quantity_kg:g} kg is over the rated load of {vehicle.plate} "
                f"({vehicle.rated_load_kg:g} kg); the gate will refuse it",
                Severity.WARNING,
            )
    for field, role in (("driver_id", Role.DRIVER), ("escort_id", Role.ESCORT)):
        target = Reference(section=Section.PERSONNEL, key=getattr(waybill, field))
        person = v.reference(Section.WAYBILLS, index, key, field, target)
        if isinstance(person, Person) and person.qualification_class is not role:
            v.add(
                Section.WAYBILLS,
                index,
                key,
                field,
                f"{person.name} holds a {person.qualification_class.value} qualification, not {role.value}; "
                "the gate will refuse them",
                Severity.WARNING,
            )


def _cross_check(v: _Validator) -> None:
    _check_tanks(v)
    _check_person_roles(v)
    for index, vehicle in list(v.valid[Section.VEHICLES].values()):
        target = Reference(section=Section.CARRIERS, key=vehicle.carrier_id)
        v.reference(Section.VEHICLES, index, vehicle.plate, "carrier_id", target)
    for index, waybill in list(v.valid[Section.WAYBILLS].values()):
        _check_waybill(v, index, waybill)


def _rows(v: _Validator, section: Section) -> tuple[Any, ...]:
    return tuple(record for _, record in sorted(v.valid[section].values(), key=lambda item: item[0]))


class Validation(BaseModel):
    """What ``validate_rows`` found: the rows to import, every problem, and where each row was."""

    model_config = ConfigDict(frozen=True)

    registry: RegistryFile
    problems: list[RowError]
    # Position (from 0) of each row of ``registry`` in its section of the file, by key.
    indices: dict[Section, dict[str, int]]


def validate_rows(
    data: object,
    *,
    today: date | None = None,
    known: Mapping[Section, Collection[str]] | None = None,
    refused: Iterable[RowError] = (),
) -> Validation:
    """Validate a parsed import file row by row (see ``validate_registry``).

    ``known``: keys already in the registry, per section; references to rows outside the file are
    then checked against it (an error when missing) instead of coming back as unresolved warnings.
    ``refused``: errors about rows found elsewhere (their photo cannot be read); those rows, and
    rows that point at them, are left out like rows with errors of their own.
    """
    v = _Validator(today, known)
    if not isinstance(data, Mapping):
        v.add("", None, None, None, "the file must be a JSON object with carriers, vehicles, personnel, waybills")
        return Validation(registry=RegistryFile(), problems=v.problems, indices={})
    for name in data:
        if name not in _SECTION_RANK:
            v.add(str(name), None, None, None, "unknown section; expected carriers, vehicles, personnel, waybills")
    for section in Section:
        v.section(section, data.get(section.value))
    for problem in refused:
        where: Section | str = Section(problem.section) if problem.section in _SECTION_RANK else problem.section
        v.add(where, problem.index, problem.key, problem.field, problem.message)
    _cross_check(v)
    problems = sorted(v.problems, key=lambda p: (_SECTION_RANK.get(p.section, -1), -1 if p.index is None else p.index))
    registry = RegistryFile(
        carriers=_rows(v, Section.CARRIERS),
        vehicles=_rows(v, Section.VEHICLES),
        personnel=_rows(v, Section.PERSONNEL),
        waybills=_rows(v, Section.WAYBILLS),
    )
    indices = {section: {key: index for key, (index, _) in v.valid[section].items()} for section in Section}
    return Validation(registry=registry, problems=problems, indices=indices)


def validate_registry(
    data: object,
    *,
    today: date | None = None,
    known: Mapping[Section, Collection[str]] | None = None,
    refused: Iterable[RowError] = (),
) -> tuple[RegistryFile, list[RowError]]:
    """Validate a parsed import file row by row.

    Returns the file made of the rows without errors (all rows when the list holds no error) and
    every problem found, errors and warnings, sorted by section and row. ``today`` enables the
    checks that need the date: an ID number's birth date must not be after it. ``known`` and
    ``refused``: see ``validate_rows``.
    """
    found = validate_rows(data, today=today, known=known, refused=refused)
    return found.registry, found.problems


def references_to_resolve(problems: Iterable[RowError]) -> dict[Section, set[str]]:
    """The keys, per section, that rows of the file point at but the file does not hold."""
    wanted: dict[Section, set[str]] = {}
    for problem in problems:
        if problem.unresolved is not None:
            wanted.setdefault(problem.unresolved.section, set()).add(problem.unresolved.key)
    return wanted


def resolve_references(problems: Iterable[RowError], known: Mapping[Section, Collection[str]]) -> list[RowError]:
    """``problems`` after looking the unresolved references up in ``known`` (keys in the database).

    A warning whose key is known is dropped; one whose key is not becomes an error.
    """
    resolved: list[RowError] = []
    for problem in problems:
        ref = problem.unresolved
        if ref is None:
            resolved.append(problem)
        elif ref.key not in known.get(ref.section, ()):
            message = f"{ref.key} is neither in this file nor in the registry"
            resolved.append(problem.model_copy(update={"severity": Severity.ERROR, "message": message}))
    return resolved
