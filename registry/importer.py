"""`hazgate registry import FILE.json`: validate every row, enrol photos, write all or nothing."""

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

from gateway.faces import FaceError, FaceSettings, analyze
from hazgate.errors import HazgateError
from registry import store
from registry.models import RegistryFile
from registry.validation import (
    RowError,
    Section,
    Severity,
    references_to_resolve,
    resolve_references,
    validate_registry,
)

Progress = Callable[[str], None]


class ImportRefused(HazgateError):
    def __init__(self, problems: list[RowError]) -> None:
        errors = [p for p in problems if p.severity is Severity.ERROR]
        listed = "".join(f"\n  {p}" for p in errors[:5]) + ("\n  ..." if len(errors) > 5 else "")
        super().__init__(
            f"the registry file has {len(errors)} error(s); nothing was imported:{listed}",
            hint="fix the rows listed and import the file again",
        )
        self.problems = problems


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
        raise ValueError(f"photo {spec[:60]!r} is neither a file next to the import file nor base64") from exc


def enrol_photos(
    registry: RegistryFile, base_dir: Path, faces: FaceSettings, progress: Progress
) -> tuple[dict[str, tuple[bytes, tuple[float, ...]]], list[RowError]]:
    photos: dict[str, tuple[bytes, tuple[float, ...]]] = {}
    problems: list[RowError] = []
    total = len(registry.personnel)
    for i, person in enumerate(registry.personnel):
        progress(f"[registry] enrolling photo {i + 1}/{total} ({person.id_number})")
        try:
            data = load_photo(person.photo, base_dir)
            photos[person.id_number] = (data, analyze(data, faces).encoding)
        except (ValueError, OSError, FaceError) as exc:
            code = getattr(exc, "code", "photo_unreadable")
            problems.append(
                RowError(section="personnel", index=i, key=person.id_number, field="photo", message=f"{code}: {exc}")
            )
    return photos, problems


def import_registry(
    conninfo: str,
    data: Any,
    *,
    base_dir: Path,
    faces: FaceSettings,
    today: date | None = None,
    progress: Progress = _stderr,
) -> dict[str, Any]:
    registry, problems = validate_registry(data, today=today)
    with psycopg.connect(conninfo) as conn:
        wanted = references_to_resolve(problems)
        if wanted:
            problems = resolve_references(problems, store.existing_keys(conn, wanted))
        if any(p.severity is Severity.ERROR for p in problems):
            raise ImportRefused(problems)
        photos, photo_problems = enrol_photos(registry, base_dir, faces, progress)
        if photo_problems:
            raise ImportRefused(problems + photo_problems)
        with conn.transaction():
            counts = store.write_registry(conn, registry, photos)
    return {"imported": counts, "warnings": [str(p) for p in problems]}


def import_file(conninfo: str, path: Path, faces: FaceSettings, today: date | None = None) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HazgateError(f"cannot read {path}: {exc}", hint="pass a UTF-8 JSON file in the import format") from exc
    return import_registry(conninfo, data, base_dir=path.parent, faces=faces, today=today)


__all__ = ["ImportRefused", "Section", "import_file", "import_registry"]
