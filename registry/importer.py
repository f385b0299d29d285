"""`hazgate registry import FILE.json`: validate every row, enrol photos, import what is sound.

What happens to a row (docs/gate.md, "Registry import"):

* **imported**: valid, its references found (in the file or the registry), its photo enrolled;
* **imported with a flag**: valid, but the enrolment photo holds no usable face (the face engine
  says why: no face, several faces, too small...). The person is imported with the flag
  ``no_usable_photo`` and no face encoding; the gate compares the live face with the ID-card
  photo alone, and sends them to an officer where the site's policy says so;
* **refused**: malformed (bad ID number, missing field, unknown field), pointing at a row that
  is refused or exists nowhere, or its photo cannot be read at all (no such file, bad base64,
  not an image). The rest of the file is imported. With ``strict``, one refused row refuses
  the whole file and nothing is written (flags are not refusals: a flagged person is sound data).

Everything written is written in one transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict

from gateway.faces import FaceError, FaceSettings, FaceUnusableError, analyze, engine_fingerprint
from hazgate.errors import HazgateError
from registry import store
from registry.models import EnrolmentFlag, FlagCode, RegistryFile
from registry.store import EnrolledPhoto
from registry.validation import (
    RowError,
    RowFlag,
    Section,
    Severity,
    Validation,
    references_to_resolve,
    validate_rows,
)

Progress = Callable[[str], None]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class ImportRefused(HazgateError):
    def __init__(self, problems: list[RowError]) -> None:
        errors = [p for p in problems if p.severity is Severity.ERROR]
        listed = "".join(f"\n  {p}" for p in errors[:5]) + ("\n  ..." if len(errors) > 5 else "")
        super().__init__(
            f"the registry file has {len(errors)} error(s); nothing was imported (--strict):{listed}",
            hint="fix the rows listed and import the file again, or import without --strict to take the sound rows",
        )
        self.problems = problems


class RowReport(BaseModel):
    """Everything the import has to say about one row."""

    model_config = ConfigDict(frozen=True)

    section: str
    index: int
    key: str | None
    imported: bool
    flags: list[EnrolmentFlag]
    errors: list[RowError]
    warnings: list[RowError]


class ImportReport(BaseModel):
    """What an import did: counts per section, and per row every flag, error and warning."""

    model_config = ConfigDict(frozen=True)

    strict: bool
    imported: dict[str, int]
    problems: list[RowError]  # every error and warning (errors: the row was refused)
    flags: list[RowFlag]

    @property
    def refused(self) -> list[RowError]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    def rows(self) -> list[RowReport]:
        """The rows with something to say, in file order; file-level problems are not rows."""
        keyed: dict[tuple[str, int], dict[str, Any]] = {}
        for p in self.problems:
            if p.index is None:
                continue
            row = keyed.setdefault((p.section, p.index), {"key": p.key, "flags": [], "errors": [], "warnings": []})
            row["key"] = row["key"] or p.key
            row["errors" if p.severity is Severity.ERROR else "warnings"].append(p)
        for f in self.flags:
            row = keyed.setdefault(
                (f.section.value, f.index), {"key": f.key, "flags": [], "errors": [], "warnings": []}
            )
            row["flags"].append(f.flag)
        rank = {s.value: n for n, s in enumerate(Section)}
        return [
            RowReport(section=section, index=index, imported=not row["errors"], **row)
            for (section, index), row in sorted(keyed.items(), key=lambda kv: (rank.get(kv[0][0], -1), kv[0][1]))
        ]

    def refused_rows(self) -> dict[str, int]:
        return _count({(p.section, p.index) for p in self.refused if p.index is not None})

    def flagged_rows(self) -> dict[str, int]:
        return _count({(f.section.value, f.index) for f in self.flags})

    def summary(self) -> str:
        imported = ", ".join(f"{n} {section}" for section, n in self.imported.items())
        refused, flagged = sum(self.refused_rows().values()), sum(self.flagged_rows().values())
        return f"{imported}; {refused} row(s) refused, {flagged} flagged"

    def to_json(self) -> dict[str, Any]:
        """The report of ``--json`` (docs/gate.md)."""
        return {
            "strict": self.strict,
            "imported": self.imported,
            "refused": self.refused_rows(),
            "flagged": self.flagged_rows(),
            "rows": [row.model_dump(mode="json") for row in self.rows()],
            "file_problems": [p.model_dump(mode="json") for p in self.problems if p.index is None],
        }

    def human(self) -> str:
        lines = [f"imported: {self.summary()}"]
        for p in self.problems:
            if p.index is None:
                lines.append(f"  {p}")
        for row in self.rows():
            state = "imported" if row.imported else "REFUSED"
            lines.append(f"{row.section}[{row.index}] ({row.key or '?'}): {state}")
            for flag in row.flags:
                issue = f", {flag.issue}" if flag.issue else ""
                lines.append(f"  flag {flag.code.value} ({flag.reason}{issue}): {flag.message}")
            for kind, problems in (("error", row.errors), ("warning", row.warnings)):
                for p in problems:
                    lines.append(f"  {kind}{f' {p.field}' if p.field else ''}: {p.message}")
        return "\n".join(lines)


def _count(rows: set[tuple[str, int | None]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for section, _ in rows:
        counts[section] = counts.get(section, 0) + 1
    return counts


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)  # noqa: T201


def load_photo(spec: str, base_dir: Path) -> bytes:
    """A photo field: a path relative to the import file, or base64 image data."""
    path = (base_dir / spec) if not Path(spec).is_absolute() else Path(spec)
    if len(spec) < 1024 and path.is_file():
        return path.read_bytes()
    try:
        return base64.b64decode(spec, validate=True)
    except (binascii.Error, ValueError) as exc:
        if len(spec) < 1024 and spec.lower().endswith(IMAGE_SUFFIXES):
            raise ValueError(f"no file {path} (photo paths are relative to the import file)") from exc
        raise ValueError(f"photo {spec[:60]!r} is neither a file next to the import file nor base64") from exc


# Looks up a photo (its bytes) already analysed by this face engine.
Enrolled = Callable[[bytes], EnrolledPhoto | None]


def _never_enrolled(_photo: bytes) -> EnrolledPhoto | None:
    return None


def enrol_photos(
    registry: RegistryFile,
    indices: dict[str, int],
    base_dir: Path,
    faces: FaceSettings,
    progress: Progress,
    enrolled: Enrolled = _never_enrolled,
) -> tuple[dict[str, EnrolledPhoto], list[RowError], list[RowFlag]]:
    """Each person's photo: enrolled, flagged (no usable face), or an error (cannot be read).
    A photo ``enrolled`` knows (the same bytes, the same engine) is taken as it was analysed."""
    photos: dict[str, EnrolledPhoto] = {}
    errors: list[RowError] = []
    flags: list[RowFlag] = []
    total = len(registry.personnel)
    engine = engine_fingerprint(faces)
    analysed = 0
    for i, person in enumerate(registry.personnel):
        progress(f"[registry] enrolling photo {i + 1}/{total} ({person.id_number})")
        index = indices[person.id_number]
        try:
            data = load_photo(person.photo, base_dir)
            known = enrolled(data)
            if known is not None:
                photos[person.id_number] = known
                flags.extend(
                    RowFlag(section=Section.PERSONNEL, index=index, key=person.id_number, field="photo", flag=f)
                    for f in known.flags
                )
                continue
            analysed += 1
            photos[person.id_number] = EnrolledPhoto(data, analyze(data, faces, kind="reference").encoding, (), engine)
        except FaceUnusableError as exc:
            flag = EnrolmentFlag(code=FlagCode.NO_USABLE_PHOTO, reason=exc.code, issue=exc.issue, message=exc.message)
            flags.append(
                RowFlag(section=Section.PERSONNEL, index=index, key=person.id_number, field="photo", flag=flag)
            )
            photos[person.id_number] = EnrolledPhoto(data, None, (flag,), engine)
        except (ValueError, OSError, FaceError) as exc:
            code = exc.code if isinstance(exc, FaceError) else "photo_unreadable"
            message = exc.message if isinstance(exc, FaceError) else str(exc)
            errors.append(
                RowError(
                    section="personnel", index=index, key=person.id_number, field="photo", message=f"{code}: {message}"
                )
            )
    if total:
        progress(f"[registry] {analysed} photo(s) analysed, {total - analysed - len(errors)} unchanged since enrolled")
    return photos, errors, flags


def _refuse_if_strict(strict: bool, found: Validation) -> None:
    if strict and any(p.severity is Severity.ERROR for p in found.problems):
        raise ImportRefused(found.problems)


def import_registry(
    conninfo: str,
    data: Any,
    *,
    base_dir: Path,
    faces: FaceSettings,
    today: date | None = None,
    strict: bool = False,
    progress: Progress = _stderr,
) -> ImportReport:
    """Import the sound rows of a parsed file (all or nothing with ``strict``); see the module doc."""
    first = validate_rows(data, today=today)
    with psycopg.connect(conninfo) as conn:
        wanted = references_to_resolve(first.problems)
        known = store.existing_keys(conn, wanted) if wanted else {}
        found = validate_rows(data, today=today, known=known)
        _refuse_if_strict(strict, found)
        personnel = found.indices.get(Section.PERSONNEL, {})
        engine = engine_fingerprint(faces)
        photos, photo_errors, flags = enrol_photos(
            found.registry,
            personnel,
            base_dir,
            faces,
            progress,
            lambda photo: store.enrolled_photo(conn, photo, engine),
        )
        if photo_errors:
            # Validate again with those rows refused, so rows pointing at them are refused too.
            found = validate_rows(data, today=today, known=known, refused=photo_errors)
            _refuse_if_strict(strict, found)
        kept = {p.id_number for p in found.registry.personnel}
        flags = [f for f in flags if f.key in kept]
        with conn.transaction():
            counts = store.write_registry(conn, found.registry, {k: v for k, v in photos.items() if k in kept})
    return ImportReport(strict=strict, imported=counts, problems=found.problems, flags=flags)


def read_import_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HazgateError(f"cannot read {path}: {exc}", hint="pass a UTF-8 JSON file in the import format") from exc


def import_file(
    conninfo: str, path: Path, faces: FaceSettings, today: date | None = None, *, strict: bool = False
) -> ImportReport:
    return import_registry(
        conninfo, read_import_file(path), base_dir=path.parent, faces=faces, today=today, strict=strict
    )


__all__ = ["ImportRefused", "ImportReport", "RowReport", "Section", "import_file", "import_registry", "load_photo"]
