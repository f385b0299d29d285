"""Which face a picture is judged by, and whether it is good enough: pure decisions.

The vision layer measures (detections with their scores, sharpness, brightness); the rules
here decide, so ``hazgate faces calibrate`` can replay them on recorded measurements and the
tests can state them without a photo. Every threshold comes from :class:`FaceSettings`, whose
comments (and docs/faces.md) say what was measured.

* :func:`select_face`: the face to verify. One face: that one. Several: the largest one, if it
  clearly dominates (``dominant_face_ratio`` times the size of every other face, and reasonably
  central); otherwise the picture is ambiguous and refused as ``multiple_faces``.
* :func:`check_quality`: size and light for every picture; sharpness only for ``live``
  captures, which can be retaken. A reference photo (ID-card chip, enrolment photo) is what it
  is and is never refused for softness alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.faces.config import FaceSettings
from gateway.faces.errors import FaceUnusableError
from gateway.faces.models import Detection, FaceBox, FaceChoice, PhotoKind


def counted_faces(detections: Sequence[Detection], cfg: FaceSettings) -> list[Detection]:
    """The detections that count as faces, largest first.

    A detection scoring under ``min_face_score`` does not count when a stronger one at least as
    big exists (the round mission patch on a spacesuit scores 0.1 beside a face of the same
    size scoring 1.6; faces scored 0.7-3.1 in our ordinary pictures). A faint detection bigger
    than every strong one still counts: a soft face close to the camera must not be passed
    over for a sharp one behind it. With no strong detection at all, every detection counts.
    """
    strong = [d.box.size for d in detections if d.score >= cfg.min_face_score]
    biggest_strong = max(strong, default=0)
    kept = [d for d in detections if d.score >= cfg.min_face_score or d.box.size > biggest_strong]
    return sorted(kept, key=lambda d: (d.box.size, d.score), reverse=True)


def centre_offset(box: FaceBox, width: int, height: int) -> float:
    """How far the face's centre is from the picture's centre: 0 centred, 1 on the edge."""
    cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
    return max(abs(cx - width / 2) / (width / 2), abs(cy - height / 2) / (height / 2))


def select_face(
    detections: Sequence[Detection], width: int, height: int, upsample: int, cfg: FaceSettings
) -> FaceChoice:
    """The face to verify, or :class:`FaceUnusableError` (no face, or several without a clear one)."""
    faces = counted_faces(detections, cfg)
    if not faces:
        raise FaceUnusableError(
            "face_not_found",
            "no face found in the picture",
            hint="look straight at the camera, uncovered (no mask, hat brim or hand), and come closer",
            evidence={"upsample": upsample},
        )
    first = faces[0]
    if len(faces) == 1:
        return FaceChoice(box=first.box, score=first.score, faces=1)
    ratio = first.box.size / faces[1].box.size
    offset = centre_offset(first.box, width, height)
    if ratio >= cfg.dominant_face_ratio and offset <= cfg.dominant_max_offset:
        return FaceChoice(box=first.box, score=first.score, faces=len(faces), dominant=True, size_ratio=round(ratio, 3))
    why = (
        f"the largest is only {ratio:.2f} times the next (at least {cfg.dominant_face_ratio} needed)"
        if ratio < cfg.dominant_face_ratio
        else f"the largest is off-centre ({offset:.2f}, at most {cfg.dominant_max_offset} allowed)"
    )
    raise FaceUnusableError(
        "face_quality",
        f"multiple faces: {len(faces)} in the picture and none clearly the person to check; {why}",
        hint="only the person being checked should be close to the camera, facing it",
        issue="multiple_faces",
        evidence={"faces": len(faces), "size_ratio": round(ratio, 3), "centre_offset": round(offset, 3)},
    )


def check_quality(box: FaceBox, sharpness: float, brightness: float, kind: PhotoKind, cfg: FaceSettings) -> None:
    """Refuse a face too small, too dark/bright or (live captures only) too blurry to compare.

    Brightness is judged before sharpness: a dark face also has little contrast, and
    "too dark" is the advice that fixes it.
    """
    if box.size < cfg.min_face_px:
        raise FaceUnusableError(
            "face_quality",
            f"face too small: {box.size} px, at least {cfg.min_face_px} px needed",
            hint="come closer to the camera, or use a higher-resolution photo",
            issue="too_small",
            evidence={"face_px": box.size, "min_face_px": cfg.min_face_px},
        )
    if brightness < cfg.min_brightness:
        raise FaceUnusableError(
            "face_quality",
            f"face too dark: brightness {brightness:.0f}, at least {cfg.min_brightness:.0f} needed",
            hint="turn on the gate light or face the light source",
            issue="too_dark",
            evidence={"brightness": round(brightness, 1), "min_brightness": cfg.min_brightness},
        )
    if brightness > cfg.max_brightness:
        raise FaceUnusableError(
            "face_quality",
            f"face too bright: brightness {brightness:.0f}, at most {cfg.max_brightness:.0f} allowed",
            hint="avoid direct sunlight or flash on the face; check the camera's exposure",
            issue="too_bright",
            evidence={"brightness": round(brightness, 1), "max_brightness": cfg.max_brightness},
        )
    if kind == "live" and sharpness < cfg.min_sharpness:
        raise FaceUnusableError(
            "face_quality",
            f"face too blurry: sharpness {sharpness:.0f}, at least {cfg.min_sharpness:.0f} needed",
            hint="hold still for a moment and check that the camera lens is clean and focused",
            issue="too_blurry",
            evidence={"sharpness": round(sharpness, 1), "min_sharpness": cfg.min_sharpness},
        )
