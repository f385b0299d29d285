"""Images in, plain values out: the only module that touches OpenCV and face_recognition.

Pipeline of :func:`analyze`:

1. bounds on the raw bytes and on the header's pixel count (nothing decoded yet);
2. decode with OpenCV to RGB (EXIF orientation applied; alpha, grey and 16 bit normalised);
3. HOG face search on a copy scaled to ``detect_max_side_px``, upsampling only when nothing
   was found (see ``FaceSettings.upsample``);
4. exactly one face, big, sharp and well lit enough, else a :class:`FaceUnusableError` that
   says what is wrong and what to do;
5. the 128-d encoding, computed on the full-resolution image.

cv2, numpy and face_recognition are imported inside the functions: importing
``gateway.faces`` stays cheap, and face_recognition loads its dlib models (~130 MB, 2-3 s)
only when first used, or in :func:`warm_up` at service start.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.faces.config import FaceSettings
from gateway.faces.errors import FaceUnusableError, ImageInputError
from gateway.faces.imageheader import read_header
from gateway.faces.models import FaceAnalysis, FaceBox, FrameFace, Point, VerifyResult

if TYPE_CHECKING:
    from cv2.typing import MatLike

    # Always 8-bit RGB, height x width x 3, once past decode_rgb()/to_rgb().
    Image = MatLike

logger = logging.getLogger(__name__)

# Face crops are rescaled to this square before measuring sharpness, so the number does not
# depend on how many pixels the face has (the encoder itself works on a 150x150 chip).
SHARPNESS_SIDE_PX = 128
# While tracking a burst, the search window is scaled so the last face is about this big:
# HOG without upsampling finds faces from ~70 px, and 110 leaves room for the face to shrink.
TRACK_FACE_PX = 110
# Points of face_recognition.face_landmarks that move with the head, not the eyes or mouth.
_RIGID_FEATURES = ("chin", "left_eyebrow", "right_eyebrow", "nose_bridge", "nose_tip")
ENCODING_LENGTH = 128
# Faces are enlarged to this size before landmarks are placed (see frame_face).
LANDMARK_FACE_PX = 400
# Re-placements of the box while following a face through a burst; one or two suffice.
FOLLOW_ITERATIONS = 3


# face_recognition shares one dlib detector, landmark predictor and ResNet per process, and
# dlib keeps per-call scratch state inside them while running without the GIL: two threads
# calling in at once got wrong face counts and then a segmentation fault in our benchmark.
# Every dlib call therefore holds this lock; decoding and OpenCV work run in parallel.
# For real parallelism use processes, each with its own models.
_DLIB_LOCK = threading.Lock()


def warm_up() -> None:
    """Load the dlib models now rather than during the first gate decision."""
    import face_recognition  # noqa: F401


# -- decoding -------------------------------------------------------------------------------
def decode_rgb(data: bytes, cfg: FaceSettings) -> Image:
    """JPEG/PNG bytes to an RGB array, refusing oversize or non-image input with a code."""
    if len(data) > cfg.max_image_bytes:
        raise ImageInputError(
            "image_too_large",
            f"image is {len(data)} bytes; at most {cfg.max_image_bytes} are accepted",
            hint="send a JPEG of the face camera's normal resolution, or raise faces.max_image_bytes",
        )
    header = read_header(data)
    if header.pixels > cfg.max_image_pixels:
        raise ImageInputError(
            "image_too_large",
            f"image is {header.width}x{header.height} = {header.pixels} pixels; "
            f"at most {cfg.max_image_pixels} are accepted",
            hint="scale the photo down before sending it, or raise faces.max_image_pixels",
        )
    import cv2
    import numpy as np

    # IMREAD_COLOR applies the EXIF orientation (phone photos) and gives 8-bit BGR whatever
    # the source: grey, palette, 16 bit or with alpha (dropped, as PIL's convert("RGB") does).
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None or decoded.size == 0:
        raise ImageInputError(
            "not_an_image",
            f"{header.format.upper()} data could not be decoded (corrupt or truncated)",
            hint="check that the camera sends complete JPEG/PNG files",
        )
    return to_rgb(decoded)


def to_rgb(img: Any) -> Image:
    """An OpenCV array (grey, BGR or BGRA; 8 or 16 bit) as contiguous 8-bit RGB."""
    import cv2
    import numpy as np

    arr = np.asarray(img)
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise ImageInputError("not_an_image", f"unsupported pixel type {arr.dtype}")
    if arr.ndim == 2:
        code = cv2.COLOR_GRAY2RGB
    elif arr.ndim == 3 and arr.shape[2] == 3:
        code = cv2.COLOR_BGR2RGB
    elif arr.ndim == 3 and arr.shape[2] == 4:
        code = cv2.COLOR_BGRA2RGB
    else:
        raise ImageInputError("not_an_image", f"unsupported image shape {arr.shape}")
    return np.ascontiguousarray(cv2.cvtColor(arr, code))


# -- detection ------------------------------------------------------------------------------
def _upsample_levels(cfg: FaceSettings) -> tuple[int, ...]:
    return {"never": (0,), "when_none_found": (0, 1), "always": (1,)}[cfg.upsample]


def _scaled(rgb: Image, max_side_px: int) -> tuple[Image, float]:
    import cv2

    height, width = rgb.shape[:2]
    scale = min(1.0, max_side_px / max(height, width))
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return small, scale


def _to_box(css: Sequence[int], scale: float, offset: tuple[int, int], shape: tuple[int, ...]) -> FaceBox:
    """A (top, right, bottom, left) found in a scaled window, in full-image pixels."""
    top, right, bottom, left = (int(v) for v in css)
    dx, dy = offset
    height, width = shape[:2]
    return FaceBox(
        top=max(0, round(top / scale) + dy),
        right=min(width, round(right / scale) + dx),
        bottom=min(height, round(bottom / scale) + dy),
        left=max(0, round(left / scale) + dx),
    )


def _css(box: FaceBox) -> tuple[int, int, int, int]:
    return (box.top, box.right, box.bottom, box.left)


def detect_faces(rgb: Image, cfg: FaceSettings) -> tuple[list[FaceBox], int]:
    """Every face the HOG detector finds, in full-image pixels, and the upsampling used."""
    import face_recognition

    small, scale = _scaled(rgb, cfg.detect_max_side_px)
    found: list[Any] = []
    upsample = 0
    for upsample in _upsample_levels(cfg):
        with _DLIB_LOCK:
            found = face_recognition.face_locations(small, number_of_times_to_upsample=upsample, model="hog")
        if found:
            break
    return [_to_box(css, scale, (0, 0), rgb.shape) for css in found], upsample


# -- quality --------------------------------------------------------------------------------
def measure_face(rgb: Image, box: FaceBox) -> tuple[float, float]:
    """(sharpness, brightness) of the face: Laplacian variance at 128x128 and mean grey."""
    import cv2

    crop = rgb[box.top : box.bottom, box.left : box.right]
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    shrinking = grey.shape[0] > SHARPNESS_SIDE_PX
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    square = cv2.resize(grey, (SHARPNESS_SIDE_PX, SHARPNESS_SIDE_PX), interpolation=interpolation)
    sharpness = float(cv2.Laplacian(square, cv2.CV_64F).var())
    return sharpness, float(grey.mean())


def _the_one_face(boxes: list[FaceBox], upsample: int) -> FaceBox:
    if not boxes:
        raise FaceUnusableError(
            "face_not_found",
            "no face found in the picture",
            hint="look straight at the camera, uncovered (no mask, hat brim or hand), and come closer",
            evidence={"upsample": upsample},
        )
    if len(boxes) > 1:
        raise FaceUnusableError(
            "face_quality",
            f"multiple faces: {len(boxes)} in the picture, exactly one is needed",
            hint="only the person being checked should be in front of the camera",
            issue="multiple_faces",
            evidence={"faces": len(boxes)},
        )
    return boxes[0]


def check_quality(box: FaceBox, sharpness: float, brightness: float, cfg: FaceSettings) -> None:
    """Refuse a face too small, too dark/bright or too blurry to compare reliably.

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
    if sharpness < cfg.min_sharpness:
        raise FaceUnusableError(
            "face_quality",
            f"face too blurry: sharpness {sharpness:.0f}, at least {cfg.min_sharpness:.0f} needed",
            hint="hold still for a moment and check that the camera lens is clean and focused",
            issue="too_blurry",
            evidence={"sharpness": round(sharpness, 1), "min_sharpness": cfg.min_sharpness},
        )


# -- encoding and comparison ----------------------------------------------------------------
def encode_face(rgb: Image, box: FaceBox, cfg: FaceSettings) -> tuple[float, ...]:
    """The 128-d encoding of the face in ``box`` (68-point alignment, ResNet)."""
    import face_recognition

    with _DLIB_LOCK:
        encodings = face_recognition.face_encodings(
            rgb, known_face_locations=[_css(box)], num_jitters=cfg.num_jitters, model="large"
        )
    return tuple(float(v) for v in encodings[0])


def analyze(data: bytes, cfg: FaceSettings) -> FaceAnalysis:
    """The single usable face of an image, encoded. Raises :class:`FaceError` subclasses."""
    started = time.perf_counter()
    rgb = decode_rgb(data, cfg)
    boxes, upsample = detect_faces(rgb, cfg)
    box = _the_one_face(boxes, upsample)
    sharpness, brightness = measure_face(rgb, box)
    check_quality(box, sharpness, brightness, cfg)
    encoding = encode_face(rgb, box, cfg)
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.debug(
        "face %dpx in %dx%d image, upsample %d, %.0f ms", box.size, rgb.shape[1], rgb.shape[0], upsample, elapsed_ms
    )
    return FaceAnalysis(
        image_width=int(rgb.shape[1]),
        image_height=int(rgb.shape[0]),
        box=box,
        sharpness=round(sharpness, 2),
        brightness=round(brightness, 2),
        upsample=upsample,
        encoding=encoding,
        elapsed_ms=round(elapsed_ms, 1),
    )


def distance(enc_a: Sequence[float], enc_b: Sequence[float]) -> float:
    """Euclidean distance between two encodings (face_recognition's ``face_distance``)."""
    if len(enc_a) != ENCODING_LENGTH or len(enc_b) != ENCODING_LENGTH:
        raise ValueError(f"encodings must have {ENCODING_LENGTH} values, got {len(enc_a)} and {len(enc_b)}")
    return math.dist(enc_a, enc_b)


def compare(a: FaceAnalysis | Sequence[float], b: FaceAnalysis | Sequence[float], cfg: FaceSettings) -> VerifyResult:
    """Match two faces already analysed (or stored encodings, e.g. from the registry)."""
    enc_a = a.encoding if isinstance(a, FaceAnalysis) else a
    enc_b = b.encoding if isinstance(b, FaceAnalysis) else b
    dist = distance(enc_a, enc_b)
    return VerifyResult(match=dist <= cfg.match_threshold, distance=dist, threshold=cfg.match_threshold)


def verify(data_a: bytes, data_b: bytes, cfg: FaceSettings) -> VerifyResult:
    """Are the faces in two images the same person? Errors of either image propagate."""
    return compare(analyze(data_a, cfg), analyze(data_b, cfg), cfg)


# -- tracking for liveness ------------------------------------------------------------------
def _find_near(rgb: Image, last: FaceBox, cfg: FaceSettings) -> FaceBox | None:
    """The one face near where it was in the previous frame, searched in a small scaled window."""
    import face_recognition

    height, width = rgb.shape[:2]
    margin = round(last.size * cfg.liveness.track_margin)
    top, bottom = max(0, last.top - margin), min(height, last.bottom + margin)
    left, right = max(0, last.left - margin), min(width, last.right + margin)
    window = rgb[top:bottom, left:right]
    scale = min(1.0, TRACK_FACE_PX / last.size)
    small, scale = _scaled(window, max(1, round(max(window.shape[:2]) * scale)))
    with _DLIB_LOCK:
        found = face_recognition.face_locations(small, number_of_times_to_upsample=0, model="hog")
    if len(found) != 1:
        return None
    return _to_box(found[0], scale, (left, top), rgb.shape)


def _centroid(points: Sequence[Point]) -> Point:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def frame_face(rgb: Image, box: FaceBox) -> FrameFace:
    """68-point landmarks of the face in ``box``, split for motion and eye measurements.

    dlib returns whole pixels. An open eye of a 200 px face is ~9 px high, so rounding alone
    moves its aspect ratio by ~10 %; the face is therefore enlarged to LANDMARK_FACE_PX
    before the landmarks are placed, and the points are scaled back as fractions of a pixel.
    """
    import cv2
    import face_recognition

    height, width = rgb.shape[:2]
    # dlib reads pixels outside the image as black, so the crop keeps half a face of border:
    # with a quarter the landmarks already moved (one painted blink measured 0.80, not 0.70).
    margin = box.size // 2
    top, left = max(0, box.top - margin), max(0, box.left - margin)
    bottom, right = min(height, box.bottom + margin), min(width, box.right + margin)
    scale = max(1.0, LANDMARK_FACE_PX / box.size)
    crop = rgb[top:bottom, left:right]
    if scale > 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    local = (
        round((box.top - top) * scale),
        round((box.right - left) * scale),
        round((box.bottom - top) * scale),
        round((box.left - left) * scale),
    )
    with _DLIB_LOCK:
        marks = face_recognition.face_landmarks(crop, face_locations=[local], model="large")[0]

    def points(feature: str) -> tuple[Point, ...]:
        return tuple((left + float(x) / scale, top + float(y) / scale) for x, y in marks[feature])

    rigid = tuple(point for feature in _RIGID_FEATURES for point in points(feature))
    return FrameFace(box=box, rigid=rigid, left_eye=points("left_eye"), right_eye=points("right_eye"))


def _shifted(box: FaceBox, dx: float, dy: float) -> FaceBox:
    return FaceBox(
        top=round(box.top + dy), right=round(box.right + dx), bottom=round(box.bottom + dy), left=round(box.left + dx)
    )


def _follow(rgb: Image, last: FrameFace) -> FrameFace:
    """Landmarks of this frame with the previous box carried along by the landmarks themselves.

    The landmark predictor follows its box: HOG boxes come on an 8-pixel grid and in scale
    steps of ~20 %, and a box moved by 6 % of the face changed the eye aspect ratio by up to
    27 % on our photos. Keeping the size and placing the box where the face now is (same
    offset from the landmark centroid as in the last frame) makes identical frames give
    identical landmarks, so stillness measures as stillness and a blink stands out.
    """
    lx, ly = _centroid(last.rigid)
    face = frame_face(rgb, last.box)
    for _ in range(FOLLOW_ITERATIONS):
        cx, cy = _centroid(face.rigid)
        dx, dy = cx - lx, cy - ly
        if abs(dx) < 1 and abs(dy) < 1:
            break
        face = frame_face(rgb, _shifted(face.box, dx, dy))
        lx, ly = cx, cy
    return face


def track_faces(frames: Sequence[bytes], cfg: FaceSettings) -> list[FrameFace | None]:
    """The face in each frame of a burst (None where there was not exactly one).

    Each frame is checked to hold exactly one face near the last one (a whole-image search
    when it is not found there); landmarks then follow the face from frame to frame. Bad
    bytes raise as in :func:`analyze`.
    """
    tracked: list[FrameFace | None] = []
    last: FrameFace | None = None
    for data in frames:
        rgb = decode_rgb(data, cfg)
        near = _find_near(rgb, last.box, cfg) if last is not None else None
        if last is not None and near is not None:
            face: FrameFace | None = _follow(rgb, last)
        else:
            boxes, _ = detect_faces(rgb, cfg)
            face = frame_face(rgb, boxes[0]) if len(boxes) == 1 else None
        tracked.append(face)
        last = face or last
    return tracked
