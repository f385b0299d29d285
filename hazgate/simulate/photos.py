"""Real people's photos for simulated crews: who a faces folder holds, and who plays whom.

The default folder is the one shipped in the package (``hazgate.data.faces_dir()``, see its
NOTICE.md). A folder may list its files in ``SOURCES.csv`` (columns ``file``, ``identity``,
``kind``); then only ``face_single`` photos count, so landscapes and crowds never become a
driver. Without that file every sub-folder with two or more photos is one person.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from hazgate.data import faces_dir

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
# The London set's two photos of a person were taken in one session, neutral then smiling:
# the closest thing in the folder to an enrolment photo and a kiosk frame. Its people play the
# crews; everyone else is a stranger (someone else's face at the camera).
CREW_PREFIX = "london_"


@dataclass(frozen=True)
class Identity:
    name: str
    photos: tuple[Path, ...]  # sorted: [0] the registry and ID-card photo, [1] the live face


@dataclass(frozen=True)
class CrewPhotos:
    """Per person id: (ID-card and enrolment photo, live face); strangers' faces for impostors."""

    people: dict[str, tuple[Path, Path]]
    strangers: tuple[Path, ...]


def default_faces_dir() -> Path:
    return faces_dir()


def _listed_photos(root: Path) -> dict[str, list[Path]] | None:
    sources = root / "SOURCES.csv"
    if not sources.is_file():
        return None
    found: dict[str, list[Path]] = {}
    with sources.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            path = root / row["file"]
            if row.get("kind") == "face_single" and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                found.setdefault(row["identity"], []).append(path)
    return found


def identities(folder: Path) -> list[Identity]:
    """The people of ``folder`` with at least two photos, the crew set first, then by name.

    ``folder`` may also be an older layout holding the people under ``faces/``.
    """
    root = folder / "faces" if (folder / "faces").is_dir() and not (folder / "SOURCES.csv").is_file() else folder
    if not root.is_dir():
        raise FileNotFoundError(f"no photo folder at {root}")
    listed = _listed_photos(root)
    if listed is None:
        listed = {
            d.name: [f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES] for d in root.iterdir() if d.is_dir()
        }
    people = [Identity(name, tuple(sorted(files))) for name, files in listed.items() if len(files) >= 2]
    return sorted(people, key=lambda p: (not p.name.startswith(CREW_PREFIX), p.name))


def cast(person_ids: list[str], folder: Path) -> CrewPhotos:
    """Give each person id a real identity (two photos of one person), in order; who is left
    over becomes a stranger. More people than identities: identities are reused."""
    people = identities(folder)
    if not people:
        raise FileNotFoundError(f"no person with two photos under {folder}")
    assigned = {}
    for k, pid in enumerate(person_ids):
        photos = people[k % len(people)].photos
        assigned[pid] = (photos[0], photos[1])
    spare = people[len(person_ids) :]
    return CrewPhotos(people=assigned, strangers=tuple(p.photos[1] for p in spare))
