"""Results of the face engine: frozen, plain-Python values (no numpy or OpenCV types)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Point = tuple[float, float]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FaceBox(_Frozen):
    """A face rectangle in the pixels of the original image (dlib's top/right/bottom/left)."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def size(self) -> int:
        """The larger side: a face cut by the image border keeps its real size on the other."""
        return max(self.width, self.height)


class FaceAnalysis(_Frozen):
    """The one usable face of an image, with the measurements that admitted it."""

    image_width: int
    image_height: int
    box: FaceBox
    # Variance of the Laplacian of the face at 128x128 (higher is sharper).
    sharpness: float
    # Mean grey level of the face, 0-255.
    brightness: float
    # HOG upsampling that found the face (0 or 1): 1 means it was small.
    upsample: int
    # The 128-d face_recognition encoding.
    encoding: tuple[float, ...]
    elapsed_ms: float


class VerifyResult(_Frozen):
    """The contract's answer to "same person?": ``distance <= threshold`` is a match."""

    match: bool
    distance: float
    threshold: float


class FrameFace(_Frozen):
    """A face tracked through one frame of a liveness burst: box and 68-point landmarks."""

    box: FaceBox
    # Points 0-35 of the 68-point model (jaw, brows, nose): they move with the head, not
    # with the eyes or the mouth, so they measure motion.
    rigid: tuple[Point, ...]
    # Six points per eye, in the order of the EAR formula (corner, top, top, corner, bottom, bottom).
    left_eye: tuple[Point, ...]
    right_eye: tuple[Point, ...]


class LivenessResult(_Frozen):
    """Signs of life in a burst. ``reason`` is a stable code when ``alive`` is false."""

    alive: bool
    blink: bool
    # Largest head displacement against the first frame, in inter-eye distances.
    motion: float
    # Frames in which exactly one face was tracked.
    frames: int
    reason: str | None = None
    message: str | None = None
    # Eye aspect ratio per tracked frame, for the record and for tuning.
    ears: tuple[float, ...] = ()
