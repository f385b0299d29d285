"""``hazgate faces calibrate``: the engine measured on ordinary copies of the shipped photos.

Real inputs are not studio portraits: ID-card chips hold a 102x126 px JPEG, kiosk and CCTV
stills are soft and compressed, carriers send scanned enrolment photos, and someone may stand
behind the driver. This pipeline makes such copies of every photo of a folder (by default the
shipped ``hazgate/data/faces``), measures each copy once with :func:`vision.measure`, replays
the quality gates of :mod:`gateway.faces.quality` on the measurements, and compares every pair:
same person (genuine) and different people (impostor), per kind of picture.

Everything is seeded: the same photos and seed give the same figures, so docs/faces.md can cite
them. The pixel work is in :mod:`gateway.faces.vision`; the statistics in
:mod:`gateway.faces.calibration_stats` are pure.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import itertools
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.faces.calibration_stats import (
    PairOutcome,
    blur_ladder,
    extremes,
    outcome,
    second_face_table,
    sharpness_table,
    summarise_images,
    summarise_pairs,
    threshold_sweep,
)
from gateway.faces.config import FaceSettings
from gateway.faces.errors import FaceError
from gateway.faces.models import Degradation, FaceMeasurement, PhotoKind

Json = dict[str, Any]
Progress = Callable[[str], None]
# Folders of the shipped set that hold no single identity.
NOT_IDENTITIES = frozenset({"noface", "multiface"})
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


@dataclass(frozen=True)
class Photo:
    rel: str
    identity: str
    data: bytes


@dataclass(frozen=True)
class Recipe:
    """A kind of ordinary picture: how to draw one copy of a photo (seeded per photo)."""

    name: str
    kind: PhotoKind
    what: str
    draw: Callable[[random.Random], Degradation] | None  # None: the photo as it is
    crowded: bool = False


def _u(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 2)


def _q(rng: random.Random, low: int, high: int) -> int:
    return rng.randint(low, high)


def _web250(rng: random.Random) -> Degradation:
    # Web photos as in public face benchmarks: 250x250 JPEG, the face ~100 px in the middle.
    return Degradation(
        out_width=250,
        out_height=250,
        face_px=_u(rng, 95, 115),
        face_dy=0.05,
        blur_sigma=_u(rng, 0, 1.2),
        jpeg_quality=_q(rng, 40, 70),
    )


def _kiosk(rng: random.Random) -> Degradation:
    return Degradation(
        out_width=1280,
        out_height=720,
        face_px=_u(rng, 150, 250),
        blur_sigma=_u(rng, 0, 0.8),
        jpeg_quality=_q(rng, 70, 90),
    )


def _behind(make: Callable[[random.Random], Degradation]) -> Callable[[random.Random], Degradation]:
    """The same picture with someone 0.5-0.7 times as big standing behind, to one side."""

    def draw(rng: random.Random) -> Degradation:
        return make(rng).model_copy(
            update={"guest_scale": _u(rng, 0.5, 0.7), "guest_side": rng.choice(("left", "right"))}
        )

    return draw


# The ordinary pictures the target is about; each entry says what it stands for.
RECIPES: tuple[Recipe, ...] = (
    Recipe("original", "live", "the shipped photo as it is (600 px, studio light)", None),
    Recipe(
        "id_chip",
        "reference",
        "ID-card chip photo: 102x126 px, face 60-70 px, JPEG q40-70",
        lambda r: Degradation(
            out_width=102, out_height=126, face_px=_u(r, 60, 70), face_dy=0.1, jpeg_quality=_q(r, 40, 70)
        ),
    ),
    Recipe(
        "enrolment_soft",
        "reference",
        "scanned enrolment photo: 358x441 px, blur sigma 1.5-2.5 px, JPEG q50-70",
        lambda r: Degradation(
            out_width=358,
            out_height=441,
            face_px=_u(r, 150, 180),
            face_dy=0.1,
            blur_sigma=_u(r, 1.5, 2.5),
            jpeg_quality=_q(r, 50, 70),
        ),
    ),
    Recipe("web250", "live", "web photo: 250x250 px, face 95-115 px, blur sigma 0-1.2, JPEG q40-70", _web250),
    Recipe(
        "web250_crowded",
        "live",
        "web photo with a second face 0.5-0.7 times as big pasted behind",
        _behind(_web250),
        crowded=True,
    ),
    Recipe("kiosk", "live", "kiosk frame: 1280x720, face 150-250 px, blur sigma 0-0.8, JPEG q70-90", _kiosk),
    Recipe(
        "kiosk_crowded",
        "live",
        "kiosk frame with a second face 0.5-0.7 times as big behind the driver",
        _behind(_kiosk),
        crowded=True,
    ),
    Recipe(
        "cctv",
        "live",
        "CCTV still: 704x576, face 80-110 px, blur sigma 0.8-1.5, JPEG q40-60",
        lambda r: Degradation(
            out_width=704,
            out_height=576,
            face_px=_u(r, 80, 110),
            blur_sigma=_u(r, 0.8, 1.5),
            jpeg_quality=_q(r, 40, 60),
        ),
    ),
)
# Pairs of (reference picture, live picture) that a gate or a registry check meets.
SCENARIOS: tuple[tuple[str, str], ...] = (
    ("original", "original"),
    ("web250", "web250"),
    ("web250", "web250_crowded"),
    ("id_chip", "kiosk"),
    ("id_chip", "kiosk_crowded"),
    ("id_chip", "cctv"),
    ("id_chip", "web250"),
    ("enrolment_soft", "kiosk"),
    ("enrolment_soft", "cctv"),
    ("enrolment_soft", "web250_crowded"),
)
# Stress ladders, to decide gates: more blur than ordinary, smaller faces, bigger second faces.
BLUR_SIGMAS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)
GUEST_SCALES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _blurred(sigma: float, _rng: random.Random) -> Degradation:
    return Degradation(out_width=250, out_height=250, face_px=105, blur_sigma=sigma, jpeg_quality=70)


def _with_guest(scale: float, rng: random.Random) -> Degradation:
    return Degradation(
        out_width=1280,
        out_height=720,
        face_px=200,
        jpeg_quality=85,
        guest_scale=scale,
        guest_side=rng.choice(("left", "right")),
    )


def _ladder_recipes() -> list[Recipe]:
    out = [
        Recipe(
            f"blur_{sigma:g}",
            "live",
            f"web photo 250x250, face 105 px, blur sigma {sigma:g}, JPEG q70",
            functools.partial(_blurred, sigma),
        )
        for sigma in BLUR_SIGMAS
    ]
    out += [
        Recipe(
            f"guest_{scale:g}",
            "live",
            f"kiosk frame 1280x720, face 200 px, a second face {scale:g} times as big",
            functools.partial(_with_guest, scale),
            crowded=True,
        )
        for scale in GUEST_SCALES
    ]
    return out


# -- photos -------------------------------------------------------------------------------------
def load_photos(folder: Path) -> list[Photo]:
    """Single-face photos of ``folder``, one sub-folder per person (SOURCES.csv kinds if present)."""
    kinds: dict[str, str] = {}
    sources = folder / "SOURCES.csv"
    if sources.is_file():
        with sources.open(newline="", encoding="utf-8") as f:
            kinds = {row.get("shipped_as") or row["file"]: row.get("kind", "") for row in csv.DictReader(f)}
    photos = []
    for path in sorted(folder.glob("*/*")):
        rel = path.relative_to(folder).as_posix()
        if path.suffix.lower() not in PHOTO_SUFFIXES or path.parent.name in NOT_IDENTITIES:
            continue
        if kinds and kinds.get(rel, "face_single") != "face_single":
            continue
        photos.append(Photo(rel, path.parent.name, path.read_bytes()))
    return photos


def _rng(seed: int, *parts: str) -> random.Random:
    digest = hashlib.sha256(":".join((str(seed), *parts)).encode()).digest()
    # Seeded on purpose: the same photos and seed must give the same figures.
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311


# -- measuring ----------------------------------------------------------------------------------
@dataclass
class Measured:
    """Each photo measured once per recipe (a measurement, or the input error's code)."""

    recipes: dict[str, Recipe]
    results: dict[tuple[str, str], FaceMeasurement | str] = field(default_factory=dict)
    guests: dict[tuple[str, str], float] = field(default_factory=dict)

    def get(self, recipe: str, rel: str) -> FaceMeasurement | str:
        return self.results[(recipe, rel)]


def measure_all(
    photos: list[Photo], recipes: Iterable[Recipe], cfg: FaceSettings, seed: int, progress: Progress
) -> Measured:
    from gateway.faces.vision import degrade, measure

    recipes = list(recipes)
    measured = Measured({r.name: r for r in recipes})
    originals = {p.rel: measure(p.data, cfg) for p in photos}
    total, done, last = len(photos) * len(recipes), 0, time.monotonic()
    for recipe in recipes:
        for photo in photos:
            original = originals[photo.rel]
            rng = _rng(seed, recipe.name, photo.rel)
            if recipe.draw is None:
                measured.results[(recipe.name, photo.rel)] = original
            elif original.box is None:
                measured.results[(recipe.name, photo.rel)] = "face_not_found"
            else:
                spec = recipe.draw(rng)
                guest = None
                if recipe.crowded:
                    others = [p for p in photos if p.identity != photo.identity and originals[p.rel].box is not None]
                    pick = rng.choice(others)
                    guest_box = originals[pick.rel].box
                    assert guest_box is not None
                    guest = (pick.data, guest_box)
                try:
                    copy = degrade(photo.data, original.box, spec, cfg, guest)
                    measured.results[(recipe.name, photo.rel)] = measure(copy, cfg)
                except FaceError as exc:
                    measured.results[(recipe.name, photo.rel)] = exc.code
            done += 1
            if time.monotonic() - last >= 2:
                last = time.monotonic()
                progress(f"faces calibrate: {done}/{total} pictures measured")
    return measured


# -- pairs ----------------------------------------------------------------------------------------
def _pairs(photos: list[Photo], ordered: bool) -> tuple[list[tuple[Photo, Photo]], list[tuple[Photo, Photo]]]:
    combos = itertools.permutations(photos, 2) if ordered else itertools.combinations(photos, 2)
    genuine: list[tuple[Photo, Photo]] = []
    impostor: list[tuple[Photo, Photo]] = []
    for a, b in combos:
        (genuine if a.identity == b.identity else impostor).append((a, b))
    return genuine, impostor


def pair_outcomes(
    measured: Measured, photos: list[Photo], ref: str, live: str, cfg: FaceSettings
) -> tuple[list[PairOutcome], list[PairOutcome]]:
    """Every genuine and impostor pair of a scenario, with the gates of ``cfg`` applied."""
    genuine, impostor = _pairs(photos, ordered=ref != live)
    kinds = (measured.recipes[ref].kind, measured.recipes[live].kind)

    def run(pairs: list[tuple[Photo, Photo]]) -> list[PairOutcome]:
        return [
            outcome(measured.get(ref, a.rel), measured.get(live, b.rel), kinds, cfg, (a.rel, b.rel)) for a, b in pairs
        ]

    return run(genuine), run(impostor)


def calibrate(folder: Path, cfg: FaceSettings, *, seed: int = 1, progress: Progress | None = None) -> Json:
    """Measure, replay the gates, compare: the report docs/faces.md cites."""
    say = progress or (lambda _t: None)
    started = time.monotonic()
    photos = load_photos(folder)
    identities = {p.identity for p in photos}
    say(f"faces calibrate: {len(photos)} photos of {len(identities)} people in {folder}")
    recipes = [*RECIPES, *_ladder_recipes()]
    measured = measure_all(photos, recipes, cfg, seed, say)
    scenarios: dict[str, Json] = {}
    ordinary_g: list[PairOutcome] = []
    ordinary_i: list[PairOutcome] = []
    for ref, live in SCENARIOS:
        genuine, impostor = pair_outcomes(measured, photos, ref, live, cfg)
        scenarios[f"{ref}~{live}"] = summarise_pairs(genuine, impostor, cfg.match_threshold)
        ordinary_g += genuine
        ordinary_i += impostor
    no_gate = cfg.model_copy(update={"min_sharpness": 0})
    ungated = [g for ref, live in SCENARIOS for g in pair_outcomes(measured, photos, ref, live, no_gate)[0]]
    blur_pairs = {
        sigma: pair_outcomes(measured, photos, "original", f"blur_{sigma:g}", no_gate) for sigma in BLUR_SIGMAS
    }
    return {
        "photos": len(photos),
        "people": len(identities),
        "seed": seed,
        "settings": {
            key: getattr(cfg, key)
            for key in (
                "match_threshold",
                "min_face_px",
                "min_sharpness",
                "min_face_score",
                "dominant_face_ratio",
                "dominant_max_offset",
            )
        },
        "pictures": {
            r.name: {"kind": r.kind, "what": r.what, **summarise_images(measured, r.name, [p.rel for p in photos], cfg)}
            for r in recipes
        },
        "scenarios": scenarios,
        "ordinary": summarise_pairs(ordinary_g, ordinary_i, cfg.match_threshold),
        "closest_strangers": extremes(ordinary_i, 5, closest=True),
        "farthest_genuine": extremes(ordinary_g, 5, closest=False),
        "threshold_sweep": threshold_sweep(ordinary_g, ordinary_i),
        "blur_ladder": blur_ladder(blur_pairs, measured, [p.rel for p in photos], cfg),
        "sharpness_gate": sharpness_table(
            [*ungated, *(g for genuine, _ in blur_pairs.values() for g in genuine)], cfg.match_threshold
        ),
        "second_face": second_face_table(measured, GUEST_SCALES, [p.rel for p in photos], cfg),
        "seconds": round(time.monotonic() - started, 1),
    }


def stderr_progress(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
