"""ID photo vs live face matching for the gate's personnel check (face_recognition / dlib).

Public API::

    analyze(data, cfg, kind) -> FaceAnalysis    # the face to verify, encoded; raises FaceError
                                                # kind: "reference" (ID chip, enrolment) or "live"
    analyze_burst(frames, cfg) -> FaceAnalysis  # a live burst: middle frame judged, encodings averaged
    verify(data_a, data_b, cfg) -> VerifyResult # {match, distance, threshold}; a is the reference
    compare(a, b, cfg) -> VerifyResult          # analyses or stored encodings
    distance(enc_a, enc_b) -> float
    check_liveness(frames, cfg) -> LivenessResult

Importing this package is cheap: OpenCV, numpy and the dlib models load on first use
(or in ``warm_up()`` at service start). See docs/faces.md.
"""

from __future__ import annotations

from gateway.faces.config import FaceSettings, LivenessSettings, engine_fingerprint
from gateway.faces.errors import FaceError, FaceUnusableError, ImageInputError
from gateway.faces.liveness import check_liveness
from gateway.faces.models import FaceAnalysis, FaceBox, LivenessResult, PhotoKind, VerifyResult
from gateway.faces.vision import analyze, analyze_burst, compare, distance, verify, warm_up

__all__ = [
    "FaceAnalysis",
    "FaceBox",
    "FaceError",
    "FaceSettings",
    "FaceUnusableError",
    "ImageInputError",
    "LivenessResult",
    "LivenessSettings",
    "PhotoKind",
    "VerifyResult",
    "analyze",
    "analyze_burst",
    "check_liveness",
    "compare",
    "distance",
    "engine_fingerprint",
    "verify",
    "warm_up",
]
