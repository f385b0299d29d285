"""Face evidence for one role at the gate: live face vs ID-card photo and vs the enrolled photo."""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel, ConfigDict

from checks import FaceEvidence, FaceProblem
from gateway.faces import FaceAnalysis, FaceError, FaceSettings, analyze, analyze_burst, check_liveness, distance
from gateway.passage import FaceInput

logger = logging.getLogger(__name__)


class FaceFailure(BaseModel):
    """Why an image gave no usable face (a plain value: it crosses process boundaries)."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str


CardResult = FaceAnalysis | FaceFailure


def _problem(exc: FaceError | FaceFailure, which: str) -> tuple[FaceProblem, str]:
    code = FaceProblem.FACE_NOT_FOUND if exc.code == "face_not_found" else FaceProblem.FACE_QUALITY
    return code, f"{which}: {exc.message}"


def analyze_card(id_photo: bytes, cfg: FaceSettings) -> CardResult:
    """The ID-card photo's face, done as soon as the card is read (before the live face arrives).

    A reference photo: the chip's 102x126 px JPEG is what it is, never refused for softness.
    """
    try:
        return analyze(id_photo, cfg, kind="reference")
    except FaceError as exc:
        return FaceFailure(code=exc.code, message=exc.message)


def face_evidence(
    card: CardResult, face: FaceInput, enrolled: tuple[float, ...] | None, cfg: FaceSettings
) -> tuple[FaceEvidence, dict[str, float]]:
    """The comparison, and how long each part took (ms), for the inspection's timings."""
    timings: dict[str, float] = {}
    if isinstance(card, FaceFailure):
        problem, message = _problem(card, "ID card photo")
        return FaceEvidence(threshold=cfg.match_threshold, problem=problem, problem_message=message), timings
    t1 = time.perf_counter()
    try:
        live = _live_face(face, cfg)
    except FaceError as exc:
        problem, message = _problem(exc, "live face")
        return FaceEvidence(threshold=cfg.match_threshold, problem=problem, problem_message=message), timings
    timings["live_face_ms"] = (time.perf_counter() - t1) * 1000
    alive = None
    if face.frames:
        t2 = time.perf_counter()
        try:
            alive = check_liveness(face.frames, cfg).alive
        except FaceError as exc:
            logger.info("liveness burst unusable: %s", exc)
            alive = False
        timings["liveness_ms"] = (time.perf_counter() - t2) * 1000
    evidence = FaceEvidence(
        threshold=cfg.match_threshold,
        distance_to_id_photo=round(distance(card.encoding, live.encoding), 4),
        distance_to_enrolled=round(distance(enrolled, live.encoding), 4) if enrolled else None,
        distance_between_photos=round(distance(card.encoding, enrolled), 4) if enrolled else None,
        liveness=alive,
        faces=live.faces,
        dominant=live.dominant,
        dominant_by=live.dominant_by,
        frames=live.frames,
    )
    return evidence, timings


def _live_face(face: FaceInput, cfg: FaceSettings) -> FaceAnalysis:
    """The live face, from the burst when there is one (the same frames liveness is judged on).

    With a single image and a burst, the image is the frame every gate judges and the burst's
    frames are averaged in; a burst alone is judged on its middle frame.
    """
    if not face.frames:
        assert face.image is not None  # the pipeline refuses a face event with neither
        return analyze(face.image, cfg, kind="live")
    if face.image is None:
        return analyze_burst(face.frames, cfg)
    return analyze_burst([face.image, *face.frames], cfg, primary=0)
