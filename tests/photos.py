"""The shipped photographs (hazgate/data/faces, see its NOTICE.md) and ordinary copies made from them.

Everything here works on a clone with nothing beside it. The copies are made with OpenCV in
the test, as a gate would receive them: an ID-card chip photo (102x126 px JPEG), a kiosk frame
(1280x720), a soft scan, a second person behind the driver.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from hazgate.data import faces_dir

FACES: Path = faces_dir()
# Grey of the wall behind a driver in a framed picture.
WALL = 110


def _sources() -> list[dict[str, str]]:
    with (FACES / "SOURCES.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


SOURCES = {row["shipped_as"]: row for row in _sources()}
SINGLE = sorted(f for f, row in SOURCES.items() if row["kind"] == "face_single")
NO_FACE = sorted(f for f, row in SOURCES.items() if row["kind"] == "no_face")
PEOPLE: dict[str, list[str]] = {}
for _rel in SINGLE:
    PEOPLE.setdefault(SOURCES[_rel]["identity"], []).append(_rel)


def photo(rel: str) -> bytes:
    return (FACES / rel).read_bytes()


@cache
def bgr(rel: str) -> np.ndarray:
    img = cv2.imread(str(FACES / rel), cv2.IMREAD_COLOR)
    assert img is not None, rel
    return img


def jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


@cache
def face_box(rel: str) -> tuple[int, int, int, int]:
    """(top, right, bottom, left) of the face, found once with face_recognition itself."""
    import face_recognition

    rgb = cv2.cvtColor(bgr(rel), cv2.COLOR_BGR2RGB)
    boxes = face_recognition.face_locations(rgb, 0)
    assert boxes, rel
    top, right, bottom, left = max(boxes, key=lambda b: b[2] - b[0])
    return int(top), int(right), int(bottom), int(left)


def frame(img: np.ndarray, rel: str, width: int, height: int, face_px: float, dy: float = 0.0) -> np.ndarray:
    """``rel``'s face at ``face_px`` in the middle of a width x height picture (wall grey beyond the photo)."""
    top, right, bottom, left = face_box(rel)
    k = face_px / max(right - left, bottom - top)
    cx, cy = (left + right) / 2, (top + bottom) / 2 + dy * height / k
    w, h = round(width / k), round(height / k)
    x0, y0 = round(cx - w / 2), round(cy - h / 2)
    canvas = np.full((h, w, 3), WALL, np.uint8)
    src_h, src_w = img.shape[:2]
    ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(src_w, x0 + w), min(src_h, y0 + h)
    canvas[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] = img[ay0:ay1, ax0:ax1]
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)


def id_chip(rel: str, quality: int = 50) -> bytes:
    """The photo as a second-generation ID card's chip holds it: 102x126 px, face ~65 px, JPEG."""
    return jpeg(frame(bgr(rel), rel, 102, 126, 65, dy=0.1), quality)


def kiosk_frame(rel: str, face_px: float = 200, quality: int = 85) -> bytes:
    """A 1280x720 frame of the gate's face camera with the person in the middle."""
    return jpeg(frame(bgr(rel), rel, 1280, 720, face_px), quality)


def soft_scan(rel: str, sigma: float = 2.5, quality: int = 60) -> bytes:
    """An enrolment photo as carriers send it: a soft, compressed scan (358x441 px)."""
    img = frame(bgr(rel), rel, 358, 441, 165, dy=0.1)
    return jpeg(cv2.GaussianBlur(img, (0, 0), sigma), quality)


def with_someone_behind(rel: str, other: str, scale: float, face_px: float = 200) -> bytes:
    """A kiosk frame of ``rel`` with ``other`` standing behind, ``scale`` times as big, to the left."""
    out = frame(bgr(rel), rel, 1280, 720, face_px).astype(np.float32)
    side = round(face_px * scale * 1.7)
    patch = cv2.resize(frame(bgr(other), other, 340, 340, 200), (side, side), interpolation=cv2.INTER_AREA)
    ellipse = np.zeros((side, side), np.float32)
    cv2.ellipse(ellipse, (side // 2, side // 2), (int(side * 0.4), int(side * 0.47)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(ellipse, (0, 0), max(1.0, side * 0.04))[..., None]
    cx = 640 - (face_px / 2 + face_px * scale * 0.75)
    cy = 360 - face_px * 0.2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    region = out[y0 : y0 + side, x0 : x0 + side]
    out[y0 : y0 + side, x0 : x0 + side] = region * (1 - mask) + patch.astype(np.float32) * mask
    return jpeg(out.clip(0, 255).astype(np.uint8), 85)


def side_by_side(left: str, right: str, face_px: float = 150) -> bytes:
    """Two people next to each other at the same distance from the camera (1280x720)."""
    a = frame(bgr(left), left, 640, 720, face_px)
    b = frame(bgr(right), right, 640, 720, face_px)
    return jpeg(np.hstack([a, b]), 85)


def _paste(out: np.ndarray, other: str, side: int, cx: float, cy: float) -> None:
    """``other``'s face and some of its surroundings (``side`` px square, faded out) centred at (cx, cy)."""
    patch = cv2.resize(frame(bgr(other), other, 340, 340, 200), (side, side), interpolation=cv2.INTER_AREA)
    ellipse = np.zeros((side, side), np.float32)
    cv2.ellipse(ellipse, (side // 2, side // 2), (int(side * 0.4), int(side * 0.47)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(ellipse, (0, 0), max(1.0, side * 0.04))[..., None]
    height, width = out.shape[:2]
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side)
    region = out[ay0:ay1, ax0:ax1]
    sub_patch = patch[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0].astype(np.float32)
    sub_mask = mask[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
    out[ay0:ay1, ax0:ax1] = region * (1 - sub_mask) + sub_patch * sub_mask


def with_someone_at_the_edge(rel: str, other: str, scale: float, face_px: float = 180) -> bytes:
    """A kiosk frame of ``rel`` in front of the camera and ``other``, ``scale`` times as big, at its left edge.

    Someone walking past close to the camera: bigger than the driver, but not in front of it.
    """
    out = frame(bgr(rel), rel, 1280, 720, face_px).astype(np.float32)
    other_px = face_px * scale
    _paste(out, other, round(other_px * 1.7), other_px * 0.6, 360 - face_px * 0.1)
    return jpeg(out.clip(0, 255).astype(np.uint8), 85)


def kiosk_burst(rel: str, frames: int = 8, face_px: float = 200) -> list[bytes]:
    """A burst of the gate's face camera: the driver's head drifts and turns a little from frame to frame."""
    still = frame(bgr(rel), rel, 1280, 720, face_px)
    out = []
    for i in range(frames):
        turn = cv2.getRotationMatrix2D((640, 360), 0.6 * i, 1.0 + 0.01 * i)
        turn[0, 2] += 5 * i
        turn[1, 2] += 2 * i
        moved = cv2.warpAffine(still, turn, (1280, 720), borderMode=cv2.BORDER_REPLICATE)
        out.append(jpeg(moved, 80 + (i % 3) * 5))
    return out
