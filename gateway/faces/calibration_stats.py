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

from checks.policy import FaceReferences, fused_face_distance
from gateway.faces.config import FaceSettings
from gateway.faces.errors import FaceUnusableError
from gateway.faces.fusion import mean_encoding
from gateway.faces.models import FaceChoice, FaceMeasurement, MeasuredFace, PhotoKind
from gateway.faces.quality import check_quality, select_face

if TYPE_CHECKING:
    from gateway.faces.calibrate import Measured

Json = dict[str, Any]
# Thresholds tried in the sweep.
SWEEP = tuple(round(0.40 + 0.005 * i, 3) for i in range(41))


@dataclass(frozen=True)
class PairOutcome:
    distance: float | None  # None: refused; with two references, the fused distance
    refused: str | None = None  # the first refusal's reason (code or quality issue)
    pair: tuple[str, str] = ("", "")  # the two photos (reference, live)
    live_sharpness: float | None = None
    distances: tuple[float, ...] = ()  # to each reference


Judged = tuple[FaceChoice, MeasuredFace]


def judge(m: FaceMeasurement | str, kind: PhotoKind, cfg: FaceSettings) -> Judged | str:
    """The face analyze() would verify in this picture (with its measurements), or why it refuses it."""
    if isinstance(m, str):
        return m
    try:
        choice = select_face(m.detections, m.image_width, m.image_height, m.upsample, cfg)
        face = m.face(choice.box)
        if face is None:
            return "not_measured"
        check_quality(choice.box, face.sharpness, face.brightness, kind, cfg)
    except FaceUnusableError as exc:
        return exc.issue or exc.code
    return choice, face


def live_encoding(frames: Sequence[FaceMeasurement | str], cfg: FaceSettings) -> tuple[tuple[float, ...], float] | str:
    """A burst's fused encoding and its first frame's sharpness, as analyze_burst() makes them.

    The first frame is the one the gates judge (a refusal there refuses the burst); each other
    frame adds its encoding when its face passes the gates too, and is skipped otherwise.
    """
    first = judge(frames[0], "live", cfg)
    if isinstance(first, str):
        return first
    encodings = [first[1].encoding]
    for m in frames[1:]:
        verdict = judge(m, "live", cfg)
        if not isinstance(verdict, str):
            encodings.append(verdict[1].encoding)
    encoding = encodings[0] if len(encodings) == 1 else mean_encoding(encodings)
    return encoding, first[1].sharpness


def outcome(
    refs: Sequence[FaceMeasurement | str],
    live: Sequence[FaceMeasurement | str],
    cfg: FaceSettings,
    rule: FaceReferences = FaceReferences.EACH,
    pair: tuple[str, str] = ("", ""),
) -> PairOutcome:
    """One pair: references (ID chip, enrolment photo) against a live picture or burst."""
    encodings = []
    for m in refs:
        verdict = judge(m, "reference", cfg)
        if isinstance(verdict, str):
            return PairOutcome(None, verdict, pair)
        encodings.append(verdict[1].encoding)
    fused = live_encoding(live, cfg)
    if isinstance(fused, str):
        return PairOutcome(None, fused, pair)
    distances = tuple(math.dist(e, fused[0]) for e in encodings)
    agree = all(math.dist(a, b) <= cfg.match_threshold for a, b in itertools.combinations(encodings, 2))
    return PairOutcome(fused_face_distance(distances, rule, agree), None, pair, fused[1], distances)


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


def summarise_pairs(
    genuine: Sequence[PairOutcome], impostor: Sequence[PairOutcome], threshold: float, review_margin: float = 0.0
) -> Json:
    """Accuracy at the threshold (refusals count as failures) and what the review band catches.

    ``accuracy`` is the binary decision at the threshold. With the review band (distances
    above the threshold by at most ``review_margin`` go to an officer), ``review`` counts the
    pairs sent there and ``accuracy_review_as_failure`` counts them as failures on both sides:
    only a clear match of the right person and a clear mismatch of a stranger are successes.
    """
    g, g_correct, _ = _side(genuine, threshold, genuine=True)
    i, i_correct, false_accepts = _side(impostor, threshold, genuine=False)
    g_rate = g_correct / len(genuine) if genuine else 1.0
    i_rate = i_correct / len(impostor) if impostor else 1.0
    top = threshold + review_margin
    g_review = sum(o.distance is not None and threshold < o.distance <= top for o in genuine)
    i_review = sum(o.distance is not None and threshold < o.distance <= top for o in impostor)
    i_clear = i_correct - i_review
    strict = ((g_correct / len(genuine) if genuine else 1.0) + (i_clear / len(impostor) if impostor else 1.0)) / 2
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
        "review_margin": review_margin,
        "review": {"genuine": g_review, "impostor": i_review},
        "accuracy_review_as_failure": round(strict, 4),
    }


def threshold_sweep(
    genuine: Sequence[PairOutcome], impostor: Sequence[PairOutcome], review_margin: float = 0.0
) -> list[Json]:
    """False accepts, false rejects, review and accuracy (refusals as failures) per threshold."""
    rows = []
    for t in SWEEP:
        s = summarise_pairs(genuine, impostor, t, review_margin)
        rows.append(
            {
                "threshold": t,
                "false_accepts": s["false_accepts"],
                "false_rejects": s["false_rejects"],
                "review": s["review"],
                "accuracy": s["accuracy"],
                "accuracy_review_as_failure": s["accuracy_review_as_failure"],
            }
        )
    return rows


def summarise_images(measured: Measured, recipe: str, rels: Sequence[str], cfg: FaceSettings) -> Json:
    """Refusals by reason with the gates of ``cfg``, and what was measured, for one kind of picture."""
    kind = measured.recipes[recipe].kind
    ms = [measured.get(recipe, rel) for rel in rels]
    verdicts = [judge(m, kind, cfg) for m in ms]
    found = [face for m in ms if isinstance(m, FaceMeasurement) and (face := m.largest) is not None]
    chosen = [v[0] for v in verdicts if not isinstance(v, str)]
    return {
        "images": len(ms),
        "refused": dict(sorted(Counter(v for v in verdicts if isinstance(v, str)).items())),
        "dominant": dict(sorted(Counter(c.dominant_by for c in chosen if c.dominant_by).items())),
        "sharpness": quantiles([f.sharpness for f in found], 1),
        "face_px": quantiles([float(f.box.size) for f in found], 0),
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
        sharp = [face.sharpness for m in found if (face := m.largest) is not None]
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
                "dominant": dict(
                    sorted(
                        Counter(
                            v[0].dominant_by for v in verdicts if not isinstance(v, str) and v[0].dominant_by
                        ).items()
                    )
                ),
                "single": sum(not isinstance(v, str) and not v[0].dominant for v in verdicts),
                "refused": dict(sorted(Counter(v for v in verdicts if isinstance(v, str)).items())),
            }
        )
    return rows
