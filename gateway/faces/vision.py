"""Images in, plain values out: the only module that touches OpenCV and face_recognition.

Pipeline of :func:`analyze`:

1. bounds on the raw bytes and on the header's pixel count (nothing decoded yet);
2. decode with OpenCV to RGB (EXIF orientation applied; alpha, grey and 16 bit normalised);
3. HOG face search on a copy scaled to ``detect_max_side_px``, upsampling only when nothing
   was found (see ``FaceSettings.upsample``);
4. the face to verify (the only one, or one that clearly dominates the others) and its
   quality, decided by the pure rules of :mod:`gateway.faces.quality`; else a
   :class:`FaceUnusableError` that says what is wrong and what to do;
5. the 128-d encoding, computed on the full-resolution image.

cv2, numpy and face_recognition are imported inside the functions: importing
``gateway.faces`` stays cheap, and face_recognition loads its dlib models (~130 MB, 2-3 s)
only when first used, or in :func:`warm_up` at service start.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.faces.config import FaceSettings
from gateway.faces.errors import FaceUnusableError, ImageInputError
from gateway.faces.fusion import mean_encoding
from gateway.faces.imageheader import read_header
from gateway.faces.models import (
    Degradation,
    Detection,
    FaceAnalysis,
    FaceBox,
    FaceMeasurement,
    FrameFace,
    MeasuredFace,
    PhotoKind,
    Point,
    VerifyResult,
)
from gateway.faces.quality import check_quality, select_face

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
# Detections measured and encoded per picture by measure() (calibration): the driver, someone
# behind, and one more is as many as the gates ever need to choose from.
MEASURED_FACES = 3
# CLAHE (contrast="clahe"): OpenCV's usual clip limit; 4x4 tiles over a crop three faces wide,
# so a tile is about the size of an eye region.
CLAHE_CLIP_LIMIT = 2.0
CLAHE_TILES = 4
# The aligned face dlib's ResNet reads: 150x150 px with 25 % padding (face_recognition's values).
CHIP_PX = 150
CHIP_PADDING = 0.25
# Seed of the fixed set of small transforms that make the extra views of a face.
VIEW_SEED = 20260101


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


def detect_faces(rgb: Image, cfg: FaceSettings) -> tuple[list[Detection], int]:
    """Every face the HOG detector finds, in full-image pixels with its score, and the upsampling used."""
    from face_recognition.api import face_detector

    small, scale = _scaled(rgb, cfg.detect_max_side_px)
    found: list[tuple[tuple[int, int, int, int], float]] = []
    upsample = 0
    for upsample in _upsample_levels(cfg):
        # face_recognition.face_locations without the scores: run() also says how face-like.
        with _DLIB_LOCK:
            rects, scores, _kinds = face_detector.run(small, upsample, 0.0)
        found = [((r.top(), r.right(), r.bottom(), r.left()), float(sc)) for r, sc in zip(rects, scores, strict=True)]
        if found:
            break
    return [Detection(box=_to_box(css, scale, (0, 0), rgb.shape), score=round(sc, 3)) for css, sc in found], upsample


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


# -- encoding and comparison ----------------------------------------------------------------
def engine_key(cfg: FaceSettings, kind: PhotoKind) -> dict[str, Any]:
    """The settings that change what :func:`measure` returns for a picture of this kind.

    ``hazgate faces calibrate`` keys its cache of measurements on them: the gates (sizes,
    sharpness, ratios, threshold) are replayed on measurements and are not part of it.
    """
    return {
        "detect_max_side_px": cfg.detect_max_side_px,
        "upsample": cfg.upsample,
        "views": _views_for(cfg, kind),
        "contrast": cfg.contrast,
        "measured_faces": MEASURED_FACES,
    }


def _views_for(cfg: FaceSettings, kind: PhotoKind) -> int:
    return cfg.reference_views if kind == "reference" else cfg.live_views


def _encoder_view(rgb: Image, box: FaceBox, cfg: FaceSettings) -> tuple[Image, FaceBox]:
    """What the encoder is shown: the picture, or a crop around the face with its contrast evened out.

    ``contrast="clahe"``: CLAHE on the luminance of the face and one face-size around it, so
    a dim or soft face shows its features as a well-lit one does (colour is left alone).
    """
    if cfg.contrast == "none":
        return rgb, box
    import cv2
    import numpy as np

    height, width = rgb.shape[:2]
    margin = box.size
    top, left = max(0, box.top - margin), max(0, box.left - margin)
    bottom, right = min(height, box.bottom + margin), min(width, box.right + margin)
    lab = cv2.cvtColor(np.ascontiguousarray(rgb[top:bottom, left:right]), cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=(CLAHE_TILES, CLAHE_TILES))
    lab[..., 0] = clahe.apply(lab[..., 0])
    local = FaceBox(top=box.top - top, right=box.right - left, bottom=box.bottom - top, left=box.left - left)
    return np.ascontiguousarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)), local


def _view_transforms(count: int) -> list[tuple[float, float, float, float, bool]]:
    """(degrees, scale, dx px, dy px, mirrored) of the first ``count`` views of an aligned face.

    View 0 is the face as aligned, view 1 its mirror image; the others are small turns (up to 3
    degrees), zooms (up to 3 %) and shifts (up to 2 % of the chip), alternately mirrored: the
    jitter dlib's own ``num_jitters`` draws at random, here drawn once from a fixed seed so the
    same photo always gives the same encoding.
    """
    rng = random.Random(VIEW_SEED)  # noqa: S311 (a fixed set of small transforms, not security)
    out = [(0.0, 1.0, 0.0, 0.0, False), (0.0, 1.0, 0.0, 0.0, True)]
    while len(out) < count:
        shift = CHIP_PX * 0.02
        out.append(
            (
                rng.uniform(-3, 3),
                rng.uniform(0.97, 1.0),
                rng.uniform(-shift, shift),
                rng.uniform(-shift, shift),
                len(out) % 2 == 1,
            )
        )
    return out[:count]


def _views(chip: Image, count: int) -> list[Image]:
    import cv2
    import numpy as np

    views = []
    for degrees, scale, dx, dy, mirrored in _view_transforms(count):
        view = chip
        if degrees or scale != 1.0 or dx or dy:
            turn = cv2.getRotationMatrix2D((CHIP_PX / 2, CHIP_PX / 2), degrees, 1 / scale)
            turn[0, 2] += dx
            turn[1, 2] += dy
            view = cv2.warpAffine(chip, turn, (CHIP_PX, CHIP_PX), borderMode=cv2.BORDER_REFLECT)
        views.append(np.ascontiguousarray(view[:, ::-1] if mirrored else view))
    return views


def encode_face(rgb: Image, box: FaceBox, cfg: FaceSettings, kind: PhotoKind = "live") -> tuple[float, ...]:
    """The 128-d encoding of the face in ``box``: 68-point alignment, then dlib's ResNet.

    As ``face_recognition.face_encodings`` (identical with one view), but the aligned face is
    encoded as ``reference_views`` or ``live_views`` views (itself, its mirror image, slightly
    turned, zoomed and shifted copies: :func:`_view_transforms`) and the encodings averaged.
    A reference photo is encoded once (ID card read, registry import), so it can afford more.
    """
    # dlib itself, as face_recognition imported it (its models are loaded there).
    from face_recognition.api import dlib, face_encoder, pose_predictor_68_point

    view, local = _encoder_view(rgb, box, cfg)
    rect = dlib.rectangle(local.left, local.top, local.right, local.bottom)
    with _DLIB_LOCK:
        shape = pose_predictor_68_point(view, rect)
        chip = dlib.get_face_chip(view, shape, size=CHIP_PX, padding=CHIP_PADDING)
        vectors = face_encoder.compute_face_descriptor(_views(chip, _views_for(cfg, kind)))
    encodings = [tuple(float(v) for v in vector) for vector in vectors]
    return encodings[0] if len(encodings) == 1 else mean_encoding(encodings)


def analyze(data: bytes, cfg: FaceSettings, kind: PhotoKind = "live") -> FaceAnalysis:
    """The face an image is judged by, encoded. Raises :class:`FaceError` subclasses.

    ``kind="reference"`` for an ID-card chip or enrolment photo (never refused for softness),
    ``"live"`` for a capture that can be retaken (kiosk, face camera, CCTV still).
    """
    started = time.perf_counter()
    rgb = decode_rgb(data, cfg)
    height, width = rgb.shape[:2]
    detections, upsample = detect_faces(rgb, cfg)
    choice = select_face(detections, width, height, upsample, cfg)
    box = choice.box
    sharpness, brightness = measure_face(rgb, box)
    check_quality(box, sharpness, brightness, kind, cfg)
    encoding = encode_face(rgb, box, cfg, kind)
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.debug(
        "%s face %dpx (%d faces) in %dx%d image, upsample %d, %.0f ms",
        kind,
        box.size,
        choice.faces,
        width,
        height,
        upsample,
        elapsed_ms,
    )
    return FaceAnalysis(
        image_width=int(width),
        image_height=int(height),
        box=box,
        sharpness=round(sharpness, 2),
        brightness=round(brightness, 2),
        upsample=upsample,
        encoding=encoding,
        elapsed_ms=round(elapsed_ms, 1),
        kind=kind,
        faces=choice.faces,
        dominant=choice.dominant,
        dominant_by=choice.dominant_by,
    )


def _spread(indices: Sequence[int], count: int) -> list[int]:
    """``count`` of ``indices`` evenly spread (all of them when there are no more)."""
    if count <= 0:
        return []
    if len(indices) <= count:
        return list(indices)
    step = len(indices) / count
    return [indices[int(i * step + step / 2)] for i in range(count)]


def analyze_burst(frames: Sequence[bytes], cfg: FaceSettings, primary: int | None = None) -> FaceAnalysis:
    """The live face of a burst, its encoding averaged over up to ``burst_frames`` frames.

    The primary frame (the middle one unless given) is analysed as :func:`analyze` does, with
    every gate: its refusal refuses the burst. The same face is then looked for near the same
    place in up to ``burst_frames - 1`` other frames, evenly spread; each one where exactly one
    face is there and passes the quality gates adds its encoding, the others are skipped.
    ``frames`` in the result says how many were averaged. Bad bytes raise as in analyze().
    """
    if not frames:
        raise ValueError("a burst needs at least one frame")
    started = time.perf_counter()
    index = len(frames) // 2 if primary is None else primary
    first = analyze(frames[index], cfg, "live")
    encodings = [first.encoding]
    others = _spread([i for i in range(len(frames)) if i != index], cfg.burst_frames - 1)
    for i in others:
        rgb = decode_rgb(frames[i], cfg)
        box = _find_near(rgb, first.box, cfg)
        if box is None:
            continue
        sharpness, brightness = measure_face(rgb, box)
        try:
            check_quality(box, sharpness, brightness, "live", cfg)
        except FaceUnusableError:
            continue
        encodings.append(encode_face(rgb, box, cfg, "live"))
    elapsed_ms = (time.perf_counter() - started) * 1000
    return first.model_copy(
        update={
            "encoding": mean_encoding(encodings) if len(encodings) > 1 else first.encoding,
            "frames": len(encodings),
            "elapsed_ms": round(elapsed_ms, 1),
        }
    )


def measure(data: bytes, cfg: FaceSettings, kind: PhotoKind = "live") -> FaceMeasurement:
    """What :func:`analyze` measures, with no gate applied (for calibration).

    The largest detections (up to MEASURED_FACES, faint ones included) are each measured and
    encoded whatever their size, light or sharpness, so the gates replayed later can pick any
    of them. Bad bytes still raise :class:`ImageInputError`.
    """
    rgb = decode_rgb(data, cfg)
    height, width = rgb.shape[:2]
    detections, upsample = detect_faces(rgb, cfg)
    largest = sorted(detections, key=lambda d: (d.box.size, d.score), reverse=True)[:MEASURED_FACES]
    faces = []
    for detection in largest:
        sharpness, brightness = measure_face(rgb, detection.box)
        faces.append(
            MeasuredFace(
                box=detection.box,
                sharpness=round(sharpness, 2),
                brightness=round(brightness, 2),
                encoding=encode_face(rgb, detection.box, cfg, kind),
            )
        )
    return FaceMeasurement(
        image_width=width, image_height=height, detections=tuple(detections), upsample=upsample, faces=tuple(faces)
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


def verify(
    data_a: bytes, data_b: bytes, cfg: FaceSettings, kinds: tuple[PhotoKind, PhotoKind] = ("reference", "live")
) -> VerifyResult:
    """Are the faces in two images the same person? Errors of either image propagate.

    By default the first image is the reference (ID card or enrolment photo) and the second
    the live capture.
    """
    return compare(analyze(data_a, cfg, kinds[0]), analyze(data_b, cfg, kinds[1]), cfg)


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


def _first_face(rgb: Image, cfg: FaceSettings) -> FrameFace | None:
    """The face to follow, chosen as :func:`analyze` chooses it (None: none, or ambiguous)."""
    height, width = rgb.shape[:2]
    detections, upsample = detect_faces(rgb, cfg)
    try:
        choice = select_face(detections, width, height, upsample, cfg)
    except FaceUnusableError:
        return None
    return frame_face(rgb, choice.box)


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
            face = _first_face(rgb, cfg)
        tracked.append(face)
        last = face or last
    return tracked


# -- degraded copies for calibration and tests ----------------------------------------------
# Grey where a framed picture reaches past its source (a plain wall behind the driver).
FRAME_GREY = 110
# A pasted second face brings this much of its photo around it (in face sizes), faded out at the edge.
GUEST_CROP_FACES = 1.7


def encode_jpeg(rgb: Image, quality: int) -> bytes:
    """An RGB image as JPEG bytes at this quality (OpenCV's encoder, 4:2:0 as most cameras)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ImageInputError("not_an_image", "the degraded copy could not be encoded as JPEG")
    return bytes(buf.tobytes())


def _paste_guest(
    out: Image, host: tuple[float, float, float], guest_rgb: Image, guest: FaceBox, spec: Degradation
) -> Image:
    """A second face, ``spec.guest_scale`` times the host's, beside and a little above it (further back).

    ``host`` is the first face's centre and size in ``out``; the guest's face is cut from its
    photo with some of its surroundings and faded out at the edge, as a person standing behind.
    """
    import cv2
    import numpy as np

    assert spec.guest_scale is not None
    hcx, hcy, hsize = host
    target_px = hsize * spec.guest_scale
    k = target_px / guest.size
    gcx, gcy = (guest.left + guest.right) / 2, (guest.top + guest.bottom) / 2
    crop = GUEST_CROP_FACES * guest.size
    side = max(8, round(crop * k))
    patch = cv2.resize(
        _window(guest_rgb, gcx, gcy, crop, crop),
        (side, side),
        interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
    )
    ellipse = np.zeros((side, side), np.float32)
    cv2.ellipse(ellipse, (side // 2, side // 2), (int(side * 0.4), int(side * 0.47)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(ellipse, (0, 0), max(1.0, side * 0.04))[..., None]
    step = hsize / 2 + target_px * 0.75
    cx = hcx - step if spec.guest_side == "left" else hcx + step
    cy = hcy - hsize * 0.2
    height, width = out.shape[:2]
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side)
    if ax1 <= ax0 or ay1 <= ay0:
        return out
    blended = out.astype(np.float32)
    sub_patch = patch[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0].astype(np.float32)
    sub_mask = mask[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
    blended[ay0:ay1, ax0:ax1] = blended[ay0:ay1, ax0:ax1] * (1 - sub_mask) + sub_patch * sub_mask
    return np.ascontiguousarray(blended.clip(0, 255).astype(np.uint8))


def _window(rgb: Image, cx: float, cy: float, width: float, height: float) -> Image:
    """The source pixels of a width x height window centred on (cx, cy); grey beyond the source."""
    import numpy as np

    w, h = max(1, round(width)), max(1, round(height))
    x0, y0 = round(cx - w / 2), round(cy - h / 2)
    out = np.full((h, w, 3), FRAME_GREY, np.uint8)
    src_h, src_w = rgb.shape[:2]
    ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(src_w, x0 + w), min(src_h, y0 + h)
    if ax1 > ax0 and ay1 > ay0:
        out[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] = rgb[ay0:ay1, ax0:ax1]
    return out


def degrade(
    data: bytes,
    face: FaceBox,
    spec: Degradation,
    cfg: FaceSettings,
    guest: tuple[bytes, FaceBox] | None = None,
) -> bytes:
    """An ordinary-quality copy of a photo whose face is ``face`` (see :class:`Degradation`)."""
    import cv2

    rgb = decode_rgb(data, cfg)
    k = spec.face_px / face.size  # output pixels per source pixel
    cx = (face.left + face.right) / 2 + spec.face_dx * spec.out_width / k
    cy = (face.top + face.bottom) / 2 + spec.face_dy * spec.out_height / k
    window = _window(rgb, cx, cy, spec.out_width / k, spec.out_height / k)
    out = cv2.resize(
        window, (spec.out_width, spec.out_height), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    )
    host = (
        spec.out_width / 2 - spec.face_dx * spec.out_width,
        spec.out_height / 2 - spec.face_dy * spec.out_height,
        spec.face_px,
    )
    if spec.rotate_deg:
        turn = cv2.getRotationMatrix2D((host[0], host[1]), spec.rotate_deg, 1.0)
        out = cv2.warpAffine(out, turn, (spec.out_width, spec.out_height), borderMode=cv2.BORDER_REPLICATE)
    if spec.guest_scale is not None and guest is not None:
        out = _paste_guest(out, host, decode_rgb(guest[0], cfg), guest[1], spec)
    if spec.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), spec.blur_sigma)
    return encode_jpeg(out, spec.jpeg_quality)
