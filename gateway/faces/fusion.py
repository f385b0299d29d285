"""A burst of live frames, combined into one encoding: pure arithmetic.

A burst (the 3-15 frames the liveness check needs anyway) gives one encoding per frame; their
mean is steadier than any single frame (sensor noise, JPEG, a blink, a slight turn average
out), so :func:`mean_encoding` is what the live side is compared by. The calibration
(``hazgate faces calibrate``) and :func:`gateway.faces.vision.analyze_burst` use the same
function. Two references (ID-card chip and enrolment photo) are combined by the personnel
check's policy (:func:`checks.policy.fused_face_distance`), not here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def mean_encoding(encodings: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The component-wise mean of several encodings of one face (at least one)."""
    if not encodings:
        raise ValueError("no encodings to average")
    length = len(encodings[0])
    if any(len(e) != length for e in encodings):
        raise ValueError("encodings of different lengths")
    count = len(encodings)
    return tuple(math.fsum(e[i] for e in encodings) / count for i in range(length))
