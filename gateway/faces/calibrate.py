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
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.policy import DEFAULT_POLICY, FaceReferences
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
from gateway.faces.models import Degradation, FaceBox, FaceMeasurement, PhotoKind
from gateway.faces.quality import counted_faces

Json = dict[str, Any]
Progress = Callable[[str], None]
# Folders of the shipped set that hold no single identity.
NOT_IDENTITIES = frozenset({"noface", "multiface"})
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
# Frames of a gate camera's burst modelled per photo: liveness needs 3-15, and 5 is what a
# kiosk sends in about a second at 5 fps.
BURST_FRAMES = 5
# Bump when what is cached per picture changes meaning (the measurement or the copy recipe).
CACHE_VERSION = 2


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
    # Copies drawn as one burst of a gate camera: frame 0 as drawn, the others slightly moved,
    # scaled, tilted and re-compressed (see _burst_frame).
    frames: int = 1


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
    Recipe(
        "kiosk",
        "live",
        "kiosk frame: 1280x720, face 150-250 px, blur sigma 0-0.8, JPEG q70-90",
        _kiosk,
        frames=BURST_FRAMES,
    ),
    Recipe(
        "kiosk_crowded",
        "live",
        "kiosk frame with a second face 0.5-0.7 times as big behind the driver",
        _behind(_kiosk),
        crowded=True,
        frames=BURST_FRAMES,
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
        frames=BURST_FRAMES,
    ),
)


@dataclass(frozen=True)
class Scenario:
    """References (one or two recipes) against a live recipe, one frame or a burst of ``frames``.

    Written ``ref~live``, ``ref~live:5`` (a 5-frame burst, encodings averaged) or
    ``id_chip+enrolment_soft~kiosk:5`` (two references, decided by the policy's rule).
    """

    refs: tuple[str, ...]
    live: str
    frames: int = 1

    @property
    def name(self) -> str:
        return "+".join(self.refs) + "~" + self.live + (f":{self.frames}" if self.frames > 1 else "")

    @classmethod
    def parse(cls, text: str) -> Scenario:
        refs, sep, live = text.strip().partition("~")
        if not sep or not refs or not live:
            raise ValueError(f"scenario {text!r} is not REF~LIVE[:FRAMES]")
        live, _, frames = live.partition(":")
        return cls(tuple(refs.split("+")), live, int(frames) if frames else 1)


# Pairs of one reference picture and one live picture: the "ordinary pairs".
PAIR_SCENARIOS: tuple[Scenario, ...] = tuple(
    Scenario((ref,), live)
    for ref, live in (
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
)


def gate_scenarios(frames: int) -> tuple[Scenario, ...]:
    """What a gate decides on: the chip photo and/or the enrolment photo against the live
    capture, a burst of ``frames`` frames (the engine's ``burst_frames``) from a gate camera."""
    return tuple(
        Scenario(refs, live, frames)
        for refs in (("id_chip",), ("enrolment_soft",), ("id_chip", "enrolment_soft"))
        for live in ("kiosk", "kiosk_crowded", "cctv")
    )


# Stress ladders, to decide gates: more blur than ordinary, bigger second faces (--ladders).
BLUR_SIGMAS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)
GUEST_SCALES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def parse_scenarios(text: str | None, burst_frames: int) -> list[Scenario]:
    """``pairs``, ``gate`` or scenario names, comma-separated (default: pairs and gate).

    ``gate`` uses ``burst_frames`` live frames, as the engine does (FaceSettings.burst_frames).
    """
    sets = {"pairs": PAIR_SCENARIOS, "gate": gate_scenarios(burst_frames)}
    out: list[Scenario] = []
    for part in (text or "pairs,gate").split(","):
        part = part.strip()
        if not part:
            continue
        found = sets.get(part)
        out.extend(found if found is not None else (Scenario.parse(part),))
    known = {r.name: r for r in (*RECIPES, *_ladder_recipes())}
    for scenario in out:
        for name in (*scenario.refs, scenario.live):
            if name not in known:
                raise ValueError(f"unknown picture kind {name!r} in {scenario.name}; known: {', '.join(known)}")
        if scenario.frames > max(known[scenario.live].frames, 1) or len(scenario.refs) > 2:
            raise ValueError(f"{scenario.name}: {scenario.live} has {known[scenario.live].frames} frames, refs 1-2")
    return list(dict.fromkeys(out))


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


def _burst_frame(spec: Degradation, rng: random.Random) -> Degradation:
    """Another frame of the same burst: the head moved and tilted a little, the same camera."""
    return spec.model_copy(
        update={
            "face_px": round(spec.face_px * rng.uniform(0.95, 1.05), 1),
            "face_dx": round(spec.face_dx + rng.uniform(-0.03, 0.03), 3),
            "face_dy": round(spec.face_dy + rng.uniform(-0.03, 0.03), 3),
            "rotate_deg": round(rng.uniform(-3, 3), 1),
            "blur_sigma": round(max(0.0, spec.blur_sigma + rng.uniform(-0.2, 0.2)), 2),
            "jpeg_quality": min(95, max(30, spec.jpeg_quality + rng.randint(-5, 5))),
        }
    )


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


# -- the measurement cache ----------------------------------------------------------------------
def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hazgate" / "faces-calibrate"


@dataclass
class MeasurementCache:
    """Measurements on disk, one small JSON file per picture, keyed by everything that made it.

    The key hashes the source photo's bytes, the copy's recipe as drawn (which holds the seed's
    choices), the guest photo pasted behind, and the engine settings that change a measurement
    (``vision.engine_key``), so a cached value is reused only for the very same picture measured
    the very same way. ``folder=None`` disables it.
    """

    folder: Path | None
    hits: int = 0
    misses: int = 0

    @staticmethod
    def key(parts: dict[str, Any]) -> str:
        text = json.dumps({"v": CACHE_VERSION, **parts}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> FaceMeasurement | str | None:
        path = self._path(key)
        if path is None or not path.is_file():
            self.misses += 1
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            value: FaceMeasurement | str = raw["error"] if "error" in raw else FaceMeasurement.model_validate(raw)
        except (ValueError, KeyError, TypeError):
            self.misses += 1
            return None  # a torn or old file: measure again
        self.hits += 1
        return value

    def put(self, key: str, value: FaceMeasurement | str) -> None:
        path = self._path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"error": value}) if isinstance(value, str) else value.model_dump_json()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


# -- measuring ----------------------------------------------------------------------------------
@dataclass
class Measured:
    """Each photo measured once per recipe and frame (a measurement, or the input error's code)."""

    recipes: dict[str, Recipe]
    results: dict[tuple[str, str, int], FaceMeasurement | str] = field(default_factory=dict)

    def get(self, recipe: str, rel: str, frame: int = 0) -> FaceMeasurement | str:
        return self.results[(recipe, rel, frame)]

    def frames(self, recipe: str, rel: str, count: int) -> list[FaceMeasurement | str]:
        return [self.results[(recipe, rel, i)] for i in range(count)]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_box(m: FaceMeasurement, cfg: FaceSettings) -> FaceBox | None:
    faces = counted_faces(m.detections, cfg)
    return faces[0].box if faces else None


def measure_all(
    photos: list[Photo],
    needs: dict[str, int],
    cfg: FaceSettings,
    seed: int,
    progress: Progress,
    cache: MeasurementCache | None = None,
) -> Measured:
    """Measure ``needs[recipe]`` frames of every photo per recipe, through the cache."""
    from gateway.faces.vision import degrade, engine_key, measure

    store = cache or MeasurementCache(None)
    all_recipes = {r.name: r for r in (*RECIPES, *_ladder_recipes())}
    recipes = [all_recipes[name] for name in needs]
    measured = Measured({r.name: r for r in recipes})

    def cached(photo: Photo, kind: PhotoKind, spec: Degradation | None, guest: Photo | None) -> FaceMeasurement | str:
        parts: dict[str, Any] = {
            "photo": _digest(photo.data),
            "spec": None if spec is None else spec.model_dump(mode="json"),
            "guest": None if guest is None else _digest(guest.data),
            "engine": engine_key(cfg, kind),
        }
        key = store.key(parts)
        value = store.get(key)
        if value is None:
            try:
                if spec is None:
                    value = measure(photo.data, cfg, kind)
                else:
                    source = originals[photo.rel]
                    assert isinstance(source, FaceMeasurement)
                    box = _source_box(source, cfg)
                    assert box is not None
                    guest_arg = None
                    if guest is not None:
                        guest_m = originals[guest.rel]
                        assert isinstance(guest_m, FaceMeasurement)
                        guest_box = _source_box(guest_m, cfg)
                        assert guest_box is not None
                        guest_arg = (guest.data, guest_box)
                    value = measure(degrade(photo.data, box, spec, cfg, guest_arg), cfg, kind)
            except FaceError as exc:
                value = exc.code
            store.put(key, value)
        return value

    originals = {p.rel: cached(p, "live", None, None) for p in photos}
    total = sum(len(photos) * n for n in needs.values())
    done, last = 0, time.monotonic()
    for recipe in recipes:
        for photo in photos:
            original = originals[photo.rel]
            rng = _rng(seed, recipe.name, photo.rel)
            usable = isinstance(original, FaceMeasurement) and _source_box(original, cfg) is not None
            spec = recipe.draw(rng) if recipe.draw is not None and usable else None
            guest = None
            if spec is not None and recipe.crowded:
                others = [
                    p
                    for p in photos
                    if p.identity != photo.identity
                    and isinstance(m := originals[p.rel], FaceMeasurement)
                    and _source_box(m, cfg) is not None
                ]
                guest = rng.choice(others)
            for frame in range(needs[recipe.name]):
                if recipe.draw is None:
                    value = original if recipe.kind == "live" else cached(photo, recipe.kind, None, None)
                elif spec is None:
                    value = "face_not_found"
                else:
                    frame_spec = (
                        spec if frame == 0 else _burst_frame(spec, _rng(seed, recipe.name, photo.rel, str(frame)))
                    )
                    value = cached(photo, recipe.kind, frame_spec, guest)
                measured.results[(recipe.name, photo.rel, frame)] = value
                done += 1
                if time.monotonic() - last >= 2:
                    last = time.monotonic()
                    progress(f"faces calibrate: {done}/{total} pictures ({store.hits} from the cache)")
    return measured


# -- pairs ----------------------------------------------------------------------------------------
def _pairs(photos: list[Photo], ordered: bool) -> tuple[list[tuple[Photo, Photo]], list[tuple[Photo, Photo]]]:
    combos = itertools.permutations(photos, 2) if ordered else itertools.combinations(photos, 2)
    genuine: list[tuple[Photo, Photo]] = []
    impostor: list[tuple[Photo, Photo]] = []
    for a, b in combos:
        (genuine if a.identity == b.identity else impostor).append((a, b))
    return genuine, impostor


Triple = tuple[tuple[Photo, ...], Photo]


def _reference_sets(photos: list[Photo], scenario: Scenario) -> tuple[list[Triple], list[Triple]]:
    """(reference photos, live photo) for the genuine and the impostor side of a scenario.

    One reference: every ordered pair of different photos (unordered when both sides are the
    same kind of picture). Two references: the ID chip from one photo of a person and the
    enrolment photo from the same or another of their photos, against a live photo that is
    neither of them (genuine) or of someone else (impostor).
    """
    if len(scenario.refs) == 1:
        genuine, impostor = _pairs(photos, ordered=scenario.refs[0] != scenario.live)
        return [((a,), b) for a, b in genuine], [((a,), b) for a, b in impostor]
    by_person: dict[str, list[Photo]] = {}
    for p in photos:
        by_person.setdefault(p.identity, []).append(p)
    g: list[Triple] = []
    i: list[Triple] = []
    for person, own in by_person.items():
        for chip, enrolled in itertools.product(own, own):
            for live in photos:
                if live.identity != person:
                    i.append(((chip, enrolled), live))
                elif live not in (chip, enrolled):
                    g.append(((chip, enrolled), live))
    return g, i


def scenario_outcomes(
    measured: Measured,
    photos: list[Photo],
    scenario: Scenario,
    cfg: FaceSettings,
    rule: FaceReferences = FaceReferences.EACH,
) -> tuple[list[PairOutcome], list[PairOutcome]]:
    """Every genuine and impostor case of a scenario, with the gates of ``cfg`` applied."""
    genuine, impostor = _reference_sets(photos, scenario)

    def run(cases: list[Triple]) -> list[PairOutcome]:
        return [
            outcome(
                [measured.get(ref, p.rel) for ref, p in zip(scenario.refs, refs, strict=True)],
                measured.frames(scenario.live, live.rel, scenario.frames),
                cfg,
                rule,
                ("+".join(p.rel for p in refs), live.rel),
            )
            for refs, live in cases
        ]

    return run(genuine), run(impostor)


def _needs(scenarios: Sequence[Scenario], ladders: bool) -> dict[str, int]:
    needs: dict[str, int] = {}
    for scenario in scenarios:
        for ref in scenario.refs:
            needs[ref] = max(needs.get(ref, 0), 1)
        needs[scenario.live] = max(needs.get(scenario.live, 0), scenario.frames)
    if ladders:
        needs.setdefault("original", 1)
        for recipe in _ladder_recipes():
            needs[recipe.name] = 1
    return needs


def calibrate(
    folder: Path,
    cfg: FaceSettings,
    *,
    seed: int = 1,
    scenarios: Sequence[Scenario] | None = None,
    ladders: bool = False,
    review_margin: float = DEFAULT_POLICY.face_review_margin,
    rule: FaceReferences = DEFAULT_POLICY.face_references,
    cache: MeasurementCache | None = None,
    progress: Progress | None = None,
) -> Json:
    """Measure, replay the gates, compare: the report docs/faces.md cites."""
    say = progress or (lambda _t: None)
    started = time.monotonic()
    gate = gate_scenarios(cfg.burst_frames)
    chosen = list(scenarios) if scenarios is not None else list(dict.fromkeys([*PAIR_SCENARIOS, *gate]))
    photos = load_photos(folder)
    identities = {p.identity for p in photos}
    say(f"faces calibrate: {len(photos)} photos of {len(identities)} people in {folder}")
    needs = _needs(chosen, ladders)
    measured = measure_all(photos, needs, cfg, seed, say, cache)
    rels = [p.rel for p in photos]
    report: Json = {
        "photos": len(photos),
        "people": len(identities),
        "seed": seed,
        "settings": {
            **{
                key: getattr(cfg, key)
                for key in (
                    "match_threshold",
                    "min_face_px",
                    "min_sharpness",
                    "min_face_score",
                    "dominant_face_ratio",
                    "dominant_max_offset",
                    "central_max_offset",
                    "position_gap",
                    "position_min_ratio",
                )
            },
            "engine": {kind: engine_settings(cfg, kind) for kind in ("reference", "live")},
            "face_review_margin": review_margin,
            "face_references": rule.value,
        },
        "pictures": {
            name: {
                "kind": measured.recipes[name].kind,
                "what": measured.recipes[name].what,
                **summarise_images(measured, name, rels, cfg),
            }
            for name in needs
        },
        "scenarios": {},
    }
    groups: dict[str, tuple[list[PairOutcome], list[PairOutcome]]] = {}
    for scenario in chosen:
        genuine, impostor = scenario_outcomes(measured, photos, scenario, cfg, rule)
        report["scenarios"][scenario.name] = summarise_pairs(genuine, impostor, cfg.match_threshold, review_margin)
        # "ordinary": the pairs; "gate": the gate's decisions; "all": every scenario chosen.
        for group, members in (("ordinary", PAIR_SCENARIOS), ("gate", gate), ("all", chosen)):
            if scenario in members:
                g, i = groups.setdefault(group, ([], []))
                g += genuine
                i += impostor
    for group, (genuine, impostor) in groups.items():
        report[group] = {
            **summarise_pairs(genuine, impostor, cfg.match_threshold, review_margin),
            "closest_strangers": extremes(impostor, 5, closest=True),
            "farthest_genuine": extremes(genuine, 5, closest=False),
            "threshold_sweep": threshold_sweep(genuine, impostor, review_margin),
        }
    if ladders:
        no_gate = cfg.model_copy(update={"min_sharpness": 0})
        blur_pairs = {
            sigma: scenario_outcomes(measured, photos, Scenario(("original",), f"blur_{sigma:g}"), no_gate)
            for sigma in BLUR_SIGMAS
        }
        ungated = [
            g
            for scenario in chosen
            if scenario.frames == 1 and len(scenario.refs) == 1
            for g in scenario_outcomes(measured, photos, scenario, no_gate)[0]
        ]
        report["blur_ladder"] = blur_ladder(blur_pairs, measured, rels, cfg)
        report["sharpness_gate"] = sharpness_table(
            [*ungated, *(g for genuine, _ in blur_pairs.values() for g in genuine)], cfg.match_threshold
        )
        report["second_face"] = second_face_table(measured, GUEST_SCALES, rels, cfg)
    report["cache"] = {
        "folder": None if cache is None or cache.folder is None else str(cache.folder),
        "hits": 0 if cache is None else cache.hits,
        "misses": 0 if cache is None else cache.misses,
    }
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def engine_settings(cfg: FaceSettings, kind: PhotoKind) -> Json:
    from gateway.faces.vision import engine_key

    return engine_key(cfg, kind)


def stderr_progress(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
