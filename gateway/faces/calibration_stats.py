"""The arithmetic of ``hazgate faces calibrate``: gates replayed on measurements, pairs counted.

Pure: measurements in, JSON-ready dicts out. A refusal always counts as a failure in
``accuracy`` (a driver asked again and again to hold still is not served); ``accuracy`` is the
mean of the genuine pairs' and the impostor pairs' success rates, so the many impostor pairs do
not drown the few genuine ones.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.faces.config import FaceSettings
from gateway.faces.errors import FaceUnusableError
from gateway.faces.models import FaceChoice, FaceMeasurement, PhotoKind
from gateway.faces.quality import check_quality, select_face

if TYPE_CHECKING:
    from gateway.faces.calibrate import Measured

Json = dict[str, Any]
# Thresholds tried in the sweep.
SWEEP = tuple(round(0.40 + 0.005 * i, 3) for i in range(41))


@dataclass(frozen=True)
class PairOutcome:
    distance: float | None  # None: refused
    refused: str | None = None  # the first refusal's reason (code or quality issue)
    pair: tuple[str, str] = ("", "")  # the two photos (reference, live)
    live_sharpness: float | None = None


def judge(m: FaceMeasurement | str, kind: PhotoKind, cfg: FaceSettings) -> FaceChoice | str:
    """The face analyze() would verify in this picture, or the reason it would refuse it."""
    if isinstance(m, str):
        return m
    try:
        choice = select_face(m.detections, m.image_width, m.image_height, m.upsample, cfg)
        check_quality(choice.box, m.sharpness, m.brightness, kind, cfg)
    except FaceUnusableError as exc:
        return exc.issue or exc.code
    return choice


def outcome(
    ref: FaceMeasurement | str,
    live: FaceMeasurement | str,
    kinds: tuple[PhotoKind, PhotoKind],
    cfg: FaceSettings,
    pair: tuple[str, str] = ("", ""),
) -> PairOutcome:
    for m, kind in ((ref, kinds[0]), (live, kinds[1])):
        verdict = judge(m, kind, cfg)
        if isinstance(verdict, str):
            return PairOutcome(None, verdict, pair)
    assert isinstance(ref, FaceMeasurement) and isinstance(live, FaceMeasurement)
    return PairOutcome(math.dist(ref.encoding, live.encoding), None, pair, live.sharpness)


# Bins of live sharpness for the table that decides the sharpness gate.
SHARPNESS_BINS = (0.0, 5.0, 8.0, 12.0, 20.0, 30.0, math.inf)


def sharpness_table(genuine: Sequence[PairOutcome], threshold: float) -> list[Json]:
    """Same-person pairs by the live face's sharpness: how often they fail at the threshold.

    A gate is worth having below the sharpness where most pairs fail anyway: there, asking the
    driver to hold still costs nothing and says what is wrong.
    """
    rows = []
    for low, high in itertools.pairwise(SHARPNESS_BINS):
        ds = [o.distance for o in genuine if o.distance is not None and low <= (o.live_sharpness or 0) < high]
        failed = sum(d > threshold for d in ds)
        rows.append(
            {
                "sharpness": f"{low:g}-{high:g}",
                "pairs": len(ds),
                "failed": failed,
                "fail_rate": round(failed / len(ds), 3) if ds else None,
            }
        )
    return rows


def extremes(outcomes: Sequence[PairOutcome], count: int, closest: bool) -> list[Json]:
    """The ``count`` closest pairs of people (impostors) or farthest pairs of photos (genuine)."""
    seen: dict[tuple[str, ...], float] = {}
    for o in outcomes:
        if o.distance is None:
            continue
        key = tuple(sorted(p.split("/")[0] for p in o.pair) if closest else sorted(o.pair))
        best = seen.get(key)
        if best is None or (o.distance < best if closest else o.distance > best):
            seen[key] = o.distance
    ranked = sorted(seen.items(), key=lambda kv: kv[1], reverse=not closest)[:count]
    return [{"pair": list(k), "distance": round(d, 4)} for k, d in ranked]


def quantiles(values: Sequence[float], digits: int = 4) -> Json | None:
    if not values:
        return None
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], digits)

    return {
        "n": len(ordered),
        "min": round(ordered[0], digits),
        "p05": at(0.05),
        "p50": at(0.5),
        "p95": at(0.95),
        "max": round(ordered[-1], digits),
        "mean": round(statistics.fmean(ordered), digits),
    }


def _side(outcomes: Sequence[PairOutcome], threshold: float, genuine: bool) -> tuple[Json, int, int]:
    compared = [o.distance for o in outcomes if o.distance is not None]
    refused = Counter(o.refused for o in outcomes if o.refused is not None)
    accepted = sum(d <= threshold for d in compared)
    correct = accepted if genuine else len(compared) - accepted
    return (
        {"pairs": len(outcomes), "refused": dict(sorted(refused.items())), "distance": quantiles(compared)},
        correct,
        accepted,
    )


def summarise_pairs(genuine: Sequence[PairOutcome], impostor: Sequence[PairOutcome], threshold: float) -> Json:
    g, g_correct, _ = _side(genuine, threshold, genuine=True)
    i, i_correct, false_accepts = _side(impostor, threshold, genuine=False)
    g_rate = g_correct / len(genuine) if genuine else 1.0
    i_rate = i_correct / len(impostor) if impostor else 1.0
    return {
        "threshold": threshold,
        "genuine": g,
        "impostor": i,
        "false_accepts": false_accepts,
        "false_rejects": sum(o.distance is not None and o.distance > threshold for o in genuine),
        "refusals": sum(o.distance is None for o in (*genuine, *impostor)),
        "genuine_success": round(g_rate, 4),
        "impostor_success": round(i_rate, 4),
        "accuracy": round((g_rate + i_rate) / 2, 4),
    }


def threshold_sweep(genuine: Sequence[PairOutcome], impostor: Sequence[PairOutcome]) -> list[Json]:
    """False accepts, false rejects and accuracy (refusals as failures) per threshold."""
    rows = []
    for t in SWEEP:
        s = summarise_pairs(genuine, impostor, t)
        rows.append(
            {
                "threshold": t,
                "false_accepts": s["false_accepts"],
                "false_rejects": s["false_rejects"],
                "accuracy": s["accuracy"],
            }
        )
    return rows


def summarise_images(measured: Measured, recipe: str, rels: Sequence[str], cfg: FaceSettings) -> Json:
    """Refusals by reason with the gates of ``cfg``, and what was measured, for one kind of picture."""
    kind = measured.recipes[recipe].kind
    ms = [measured.get(recipe, rel) for rel in rels]
    verdicts = [judge(m, kind, cfg) for m in ms]
    found = [m for m in ms if isinstance(m, FaceMeasurement) and m.box is not None]
    chosen = [v for v in verdicts if isinstance(v, FaceChoice)]
    return {
        "images": len(ms),
        "refused": dict(sorted(Counter(v for v in verdicts if isinstance(v, str)).items())),
        "dominant": sum(v.dominant for v in chosen),
        "sharpness": quantiles([m.sharpness for m in found], 1),
        "face_px": quantiles([float(m.box.size) for m in found if m.box is not None], 0),
    }


def blur_ladder(
    pairs: Mapping[float, tuple[list[PairOutcome], list[PairOutcome]]],
    measured: Measured,
    rels: Sequence[str],
    cfg: FaceSettings,
) -> list[Json]:
    """Per blur level (original photo vs blurred web copy, no sharpness gate): what blur does to matching."""
    rows = []
    for sigma, (genuine, impostor) in pairs.items():
        found = [m for rel in rels if isinstance(m := measured.get(f"blur_{sigma:g}", rel), FaceMeasurement)]
        sharp = [m.sharpness for m in found if m.box is not None]
        s = summarise_pairs(genuine, impostor, cfg.match_threshold)
        rows.append(
            {
                "blur_sigma": sigma,
                "sharpness": quantiles(sharp, 1),
                "below_min_sharpness": sum(v < cfg.min_sharpness for v in sharp),
                "genuine_distance": s["genuine"]["distance"],
                "impostor_distance": s["impostor"]["distance"],
                "false_accepts": s["false_accepts"],
                "false_rejects": s["false_rejects"],
                "refused": {**s["genuine"]["refused"]},
            }
        )
    return rows


def second_face_table(
    measured: Measured, scales: Sequence[float], rels: Sequence[str], cfg: FaceSettings
) -> list[Json]:
    """Per size of a pasted second face: whether it was seen, the size ratio, and the verdict."""
    rows = []
    for scale in scales:
        name = f"guest_{scale:g}"
        ms = [m for rel in rels if isinstance(m := measured.get(name, rel), FaceMeasurement)]
        verdicts = [judge(m, "live", cfg) for m in ms]
        ratios = []
        for m in ms:
            sizes = sorted((d.box.size for d in m.detections if d.score >= cfg.min_face_score), reverse=True)
            if len(sizes) >= 2:
                ratios.append(sizes[0] / sizes[1])
        rows.append(
            {
                "guest_scale": scale,
                "images": len(ms),
                "second_face_seen": len(ratios),
                "size_ratio": quantiles(ratios, 2),
                "dominant": sum(isinstance(v, FaceChoice) and v.dominant for v in verdicts),
                "single": sum(isinstance(v, FaceChoice) and not v.dominant for v in verdicts),
                "refused": dict(sorted(Counter(v for v in verdicts if isinstance(v, str)).items())),
            }
        )
    return rows
