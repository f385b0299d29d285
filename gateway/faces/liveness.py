"""Signs of life in a short burst of face-camera frames: a blink or a head movement.

A printed photo or a phone held still in front of the camera gives frames that differ only by
sensor and JPEG noise; a person cannot keep that still. Two cues, both from the 68-point
landmarks that :func:`gateway.faces.vision.track_faces` finds in each frame:

* **blink**: the eye aspect ratio (EAR, Soukupová & Čech 2016) of a middle frame drops to
  ``blink_ratio`` of the open value seen both before and after it;
* **motion**: the median displacement of the jaw, brow and nose points against the first
  frame, divided by the distance between the eye centres, exceeds ``min_motion``.

What this does not stop: a photo moved by hand passes the motion test (rigid movement looks
like a head moving), and a video replayed on a screen can blink. Set
``liveness.require_blink`` to insist on a blink; see docs/faces.md for what was measured.

Everything below except :func:`check_liveness` is pure arithmetic on landmark coordinates.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Sequence

from gateway.faces.config import FaceSettings, LivenessSettings
from gateway.faces.models import FrameFace, LivenessResult, Point

logger = logging.getLogger(__name__)


def eye_aspect_ratio(eye: Sequence[Point]) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|) for the six points of one eye; ~0.3 open, ~0.1 shut."""
    p1, p2, p3, p4, p5, p6 = eye
    width = math.dist(p1, p4)
    if width == 0:
        return 0.0
    return (math.dist(p2, p6) + math.dist(p3, p5)) / (2 * width)


def face_ear(face: FrameFace) -> float:
    """Mean EAR of both eyes: people blink with both, and averaging halves the noise."""
    return (eye_aspect_ratio(face.left_eye) + eye_aspect_ratio(face.right_eye)) / 2


def _centre(points: Sequence[Point]) -> Point:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def eye_distance(face: FrameFace) -> float:
    """Distance between the eye centres: a face-size unit that ignores the box's coarse steps."""
    return math.dist(_centre(face.left_eye), _centre(face.right_eye))


def displacement(reference: FrameFace, other: FrameFace) -> float:
    """Median movement of the rigid points between two frames, in inter-eye distances.

    The median ignores the odd landmark that jumps on noise; a head that moves or turns
    moves most of the points.
    """
    unit = eye_distance(reference)
    if unit == 0:
        return 0.0
    moves = [math.dist(a, b) for a, b in zip(reference.rigid, other.rigid, strict=True)]
    return statistics.median(moves) / unit


def head_motion(faces: Sequence[FrameFace]) -> float:
    """The largest displacement of any frame against the first one."""
    if len(faces) < 2:
        return 0.0
    return max(displacement(faces[0], face) for face in faces[1:])


def has_blink(ears: Sequence[float], ratio: float) -> bool:
    """True if some middle frame's EAR is at most ``ratio`` of the open value on both sides.

    Requiring open eyes before *and* after rules out a burst that starts or ends shut, and a
    face whose eyes drift shut (drowsiness or a photo sliding out of focus) without reopening.
    """
    for i in range(1, len(ears) - 1):
        open_before = max(ears[:i])
        open_after = max(ears[i + 1 :])
        if ears[i] <= ratio * min(open_before, open_after):
            return True
    return False


def _failure(tracked: int, frames: int, blink: bool, motion: float, cfg: LivenessSettings) -> tuple[str, str] | None:
    """(reason code, message) when the burst shows no sign of life, else None."""
    if tracked < cfg.min_frames:
        return "face_lost", f"one face was seen in only {tracked} of {frames} frames; {cfg.min_frames} are needed"
    if cfg.require_blink and not blink:
        return "no_blink", "no blink was seen; look at the camera and blink"
    if not blink and motion < cfg.min_motion:
        return "no_sign_of_life", (
            f"the face neither blinked nor moved (motion {motion:.3f} < {cfg.min_motion}); "
            "a still picture is not accepted"
        )
    return None


def judge(faces: Sequence[FrameFace], frames: int, cfg: LivenessSettings) -> LivenessResult:
    """The verdict for the faces tracked in a burst of ``frames`` frames (pure)."""
    ears = tuple(round(face_ear(face), 4) for face in faces)
    blink = has_blink(ears, cfg.blink_ratio)
    motion = round(head_motion(faces), 4)
    failure = _failure(len(faces), frames, blink, motion, cfg)
    return LivenessResult(
        alive=failure is None,
        blink=blink,
        motion=motion,
        frames=len(faces),
        reason=failure[0] if failure else None,
        message=failure[1] if failure else None,
        ears=ears,
    )


def check_liveness(frames: Sequence[bytes], cfg: FaceSettings) -> LivenessResult:
    """Signs of life in a burst of JPEG/PNG frames, oldest first.

    A burst of the wrong length is refused without looking at it. Frames that are not images
    raise :class:`gateway.faces.errors.ImageInputError` as :func:`vision.analyze` does.
    """
    live = cfg.liveness
    if not live.min_frames <= len(frames) <= live.max_frames:
        return LivenessResult(
            alive=False,
            blink=False,
            motion=0.0,
            frames=0,
            reason="burst_length",
            message=f"{len(frames)} frames sent; between {live.min_frames} and {live.max_frames} are needed",
        )
    from gateway.faces.vision import track_faces

    tracked = track_faces(frames, cfg)
    faces = [face for face in tracked if face is not None]
    result = judge(faces, len(frames), live)
    logger.debug(
        "liveness: alive=%s blink=%s motion=%.3f faces=%d/%d",
        result.alive,
        result.blink,
        result.motion,
        result.frames,
        len(frames),
    )
    return result
