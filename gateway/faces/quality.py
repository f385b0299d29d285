"""Which face a picture is judged by, and whether it is good enough: pure decisions.

The vision layer measures (detections with their scores, sharpness, brightness); the rules
here decide, so ``hazgate faces calibrate`` can replay them on recorded measurements and the
tests can state them without a photo. Every threshold comes from :class:`FaceSettings`, whose
comments (and docs/faces.md) say what was measured.

* :func:`select_face`: the face to verify. One face: that one. Several: the largest one, if it
  clearly dominates (``dominant_face_ratio`` times the size of every other face, and reasonably
  central), else the one in front of the camera if every other is smaller and off to the side
  (or at the edge); otherwise the picture is ambiguous and refused as ``multiple_faces``.
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


def _ambiguous(faces: Sequence[Detection], width: int, height: int, cfg: FaceSettings) -> FaceUnusableError:
    largest, central = faces[0], min(faces, key=lambda d: centre_offset(d.box, width, height))
    ratio = largest.box.size / faces[1].box.size
    offset = centre_offset(largest.box, width, height)
    if ratio < cfg.dominant_face_ratio:
        why = f"the largest is only {ratio:.2f} times the next (at least {cfg.dominant_face_ratio} needed)"
    else:
        why = f"the largest is off-centre ({offset:.2f}, at most {cfg.dominant_max_offset} allowed)"
    central_offset = centre_offset(central.box, width, height)
    if central_offset > cfg.central_max_offset:
        why += f", and no face is in front of the camera (the most central is at {central_offset:.2f})"
    else:
        why += ", and another face is about as big and about as close to the centre as the most central one"
    return FaceUnusableError(
        "face_quality",
        f"multiple faces: {len(faces)} in the picture and none clearly the person to check; {why}",
        hint="only the person being checked should be close to the camera, facing it",
        issue="multiple_faces",
        evidence={"faces": len(faces), "size_ratio": round(ratio, 3), "centre_offset": round(offset, 3)},
    )


def _by_position(faces: Sequence[Detection], width: int, height: int, cfg: FaceSettings) -> Detection | None:
    """The face in front of the camera when every other face is off to the side, else None.

    The most central face must be within ``central_max_offset`` of the centre, every other face
    at least ``position_gap`` further out, and each of them either smaller by at least
    ``position_min_ratio`` (someone standing behind, one HOG size step back) or at the edge
    (beyond ``dominant_max_offset``: someone passing close to the camera). Two people of the
    same size next to each other stay ambiguous.
    """
    ranked = sorted(faces, key=lambda d: centre_offset(d.box, width, height))
    central, others = ranked[0], ranked[1:]
    offset = centre_offset(central.box, width, height)
    if offset > cfg.central_max_offset:
        return None
    for other in others:
        other_offset = centre_offset(other.box, width, height)
        if other_offset < offset + cfg.position_gap:
            return None
        smaller = central.box.size >= cfg.position_min_ratio * other.box.size
        if not smaller and other_offset <= cfg.dominant_max_offset:
            return None
    return central


def select_face(
    detections: Sequence[Detection], width: int, height: int, upsample: int, cfg: FaceSettings
) -> FaceChoice:
    """The face to verify, or :class:`FaceUnusableError` (no face, or several without a clear one).

    Of several faces, the largest is taken when it clearly dominates by size (``dominant_by``
    "size"); failing that, the one in front of the camera when the others are off to the side
    (``"position"``, see :func:`_by_position`). Otherwise the picture is ambiguous.
    """
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
        offset = round(centre_offset(first.box, width, height), 3)
        return FaceChoice(box=first.box, score=first.score, faces=1, centre_offset=offset)
    ratio = first.box.size / faces[1].box.size
    offset = centre_offset(first.box, width, height)
    chosen, by = None, None
    if ratio >= cfg.dominant_face_ratio and offset <= cfg.dominant_max_offset:
        chosen, by = first, "size"
    elif (central := _by_position(faces, width, height, cfg)) is not None:
        chosen, by = central, "position"
    if chosen is None or by is None:
        raise _ambiguous(faces, width, height, cfg)
    biggest_other = max(d.box.size for d in faces if d is not chosen)
    return FaceChoice(
        box=chosen.box,
        score=chosen.score,
        faces=len(faces),
        dominant=True,
        size_ratio=round(chosen.box.size / biggest_other, 3),
        dominant_by=by,
        centre_offset=round(centre_offset(chosen.box, width, height), 3),
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
