"""Results of the face engine: frozen, plain-Python values (no numpy or OpenCV types)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Point = tuple[float, float]
# What a picture is for. A "reference" photo (ID-card chip, registry enrolment photo) is what it
# is: it cannot be taken again, so softness alone never refuses it. A "live" capture (kiosk,
# face camera, CCTV still) can be retaken, so the sharpness gate applies to it.
PhotoKind = Literal["reference", "live"]
# Why one face of several was taken for the person to check: clearly the largest ("size"), or
# the one in front of the camera while the others are off to the side ("position").
DominantBy = Literal["size", "position"]


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


class Detection(_Frozen):
    """A face the HOG detector found: its box and dlib's detection score (higher: more face-like)."""

    box: FaceBox
    score: float


class FaceChoice(_Frozen):
    """The face an image is judged by, and how it was chosen among the faces found."""

    box: FaceBox
    score: float
    # Faces counted in the picture (detections too faint to be a face are not counted).
    faces: int
    # True when there were several faces and this one clearly dominated (see select_face).
    dominant: bool = False
    # Size of this face over the largest other counted face (0 when it is alone; under 1 when
    # a bigger face was passed over because it was off to the side).
    size_ratio: float = 0.0
    # How it dominated (None when it is alone).
    dominant_by: DominantBy | None = None
    # Its centre's distance from the picture's centre (0 centred, 1 on the edge).
    centre_offset: float = 0.0


class FaceAnalysis(_Frozen):
    """The usable face of an image, with the measurements that admitted it."""

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
    # What the picture was analysed as (which quality gates applied).
    kind: PhotoKind = "live"
    # Faces counted in the picture; with more than one, ``dominant`` says this one was chosen
    # because it clearly dominated, and ``dominant_by`` how: by its size (largest by a margin,
    # reasonably central) or by its position (in front of the camera, the others off to the side).
    faces: int = 1
    dominant: bool = False
    dominant_by: DominantBy | None = None
    # Frames of a burst whose encodings were averaged into ``encoding`` (1: a single picture).
    frames: int = 1


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


class MeasuredFace(_Frozen):
    """One detected face as :func:`vision.measure` saw it: quality measurements and encoding."""

    box: FaceBox
    sharpness: float
    brightness: float
    encoding: tuple[float, ...]


class FaceMeasurement(_Frozen):
    """Everything :func:`vision.measure` sees in a picture, before any gate decides.

    ``hazgate faces calibrate`` records these once per picture and replays the gates of
    :mod:`gateway.faces.quality` on them: the gates choose a detection, and the face measured
    for that box is the one compared. ``faces`` holds the largest detections (up to
    ``vision.MEASURED_FACES``), largest first; empty when no face was found.
    """

    image_width: int
    image_height: int
    detections: tuple[Detection, ...]
    upsample: int
    faces: tuple[MeasuredFace, ...] = ()

    def face(self, box: FaceBox) -> MeasuredFace | None:
        """The measured face with this box (None if that detection was not measured)."""
        return next((f for f in self.faces if f.box == box), None)

    @property
    def largest(self) -> MeasuredFace | None:
        return self.faces[0] if self.faces else None


class Degradation(_Frozen):
    """How to turn a good photo into an ordinary one (see :func:`vision.degrade`).

    The face of the source photo is framed into an ``out_width`` x ``out_height`` picture at
    ``face_px`` (grey where the source ends), optionally with a second, smaller face pasted
    behind it first, then blurred and JPEG-compressed.
    """

    out_width: int
    out_height: int
    face_px: float
    # The frame's centre sits this fraction of its height below the face's centre
    # (positive: more room under the face, as in an ID photo showing the shoulders), and this
    # fraction of its width to the right of it (a driver a little off the camera's axis).
    face_dy: float = 0.0
    face_dx: float = 0.0
    # In-plane rotation of the picture around the face, degrees (a head tilted in a burst).
    rotate_deg: float = 0.0
    blur_sigma: float = 0.0
    jpeg_quality: int = 90
    # A second face (the guest photo's) pasted beside and above the first, this many times its
    # size, on this side.
    guest_scale: float | None = None
    guest_side: Literal["left", "right"] = "left"
