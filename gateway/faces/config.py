"""Tunables of the face engine. Nested into the root settings as ``settings.faces``.

Every default below was chosen from measurements with face_recognition 1.3 / dlib 20 (HOG
detector, 68-point landmarks, ResNet encoder); the gates and the threshold with
``hazgate faces calibrate`` on ordinary copies of the shipped photos. The comment next to each
says what was measured; docs/faces.md has the tables.
Environment example: ``HAZGATE_FACES__MATCH_THRESHOLD=0.42``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MIB = 1024 * 1024

UpsamplePolicy = Literal["never", "when_none_found", "always"]


class LivenessSettings(BaseModel):
    """Signs of life in a short burst of frames from the face camera."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A blink lasts 100-400 ms; at the 5-15 fps of a gate burst three frames are the least
    # that can show open-closed-open, and fifteen (1-3 s) is as long as a driver should wait.
    min_frames: int = Field(default=3, ge=3)
    max_frames: int = Field(default=15, ge=3)
    # Head movement: the median displacement of the jaw, brow and nose landmarks against the
    # first frame, in units of the distance between the eye centres. Identical frames measure
    # 0; a still picture re-encoded at JPEG quality 70-95 with 1 px jitter measured up to
    # 0.036; a head drifting 2 px per frame in a 1280x720 frame measured 0.08-0.26.
    min_motion: float = Field(default=0.06, gt=0)
    # Blink: a middle frame's eye aspect ratio (EAR) falls to at most this fraction of the
    # open value seen both before and after it. Re-encoding noise moved EAR by up to 13 %
    # (ratio 0.87); a real blink more than halves it (Soukupová & Čech 2016); eyes painted
    # shut on our photos gave 0.35-0.69 on four faces but only 0.81-0.85 on three others,
    # where dlib kept the eye shape it expects (see docs/faces.md).
    blink_ratio: float = Field(default=0.75, gt=0, lt=1)
    # A moving printed photo passes the motion test (it is rigid movement); deployments that
    # want more can insist on a blink, at the price of asking drivers to blink on purpose.
    require_blink: bool = False
    # Search the next frame only around the face of the previous one: the box grown by this
    # fraction of its size on each side. 0.5 allows the head to move half a face between
    # frames, far more than at 5 fps, and keeps tracking ~10x cheaper than a full search.
    track_margin: float = Field(default=0.5, gt=0, le=2)

    @model_validator(mode="after")
    def _frames_ordered(self) -> LivenessSettings:
        if self.min_frames > self.max_frames:
            raise ValueError(f"liveness.min_frames ({self.min_frames}) > liveness.max_frames ({self.max_frames})")
        return self


class FaceSettings(BaseModel):
    """The face matching engine: input bounds, detection, quality gates and the threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Same person when the encoding distance is <= this. Chosen by `hazgate faces calibrate`
    # (docs/faces.md): on ordinary copies of the shipped photos (ID chips, soft scans, web,
    # kiosk and CCTV stills) genuine pairs measure 0.12-0.48 and strangers 0.45-1.09; the only
    # strangers under 0.54 are two young men of the London set (0.449-0.53), a known weakness
    # of dlib's encoder for some groups. 0.44 is the largest 0.01 step with no false accept;
    # genuine pairs between 0.44 and 0.49 go to an officer (checks' face_review_margin)
    # rather than being refused. face_recognition's default, 0.6, accepted 89 strangers there.
    match_threshold: float = Field(default=0.44, gt=0, lt=2)

    # Refused before decoding. Gate frames are 100-400 KiB (MQTT payloads are capped at
    # 256 KiB by default); 8 MiB still admits a phone or scanner photo for the registry.
    max_image_bytes: int = Field(default=8 * MIB, ge=1024)
    # Read from the header before decoding, so a small PNG that claims 50000x50000 pixels
    # cannot make us allocate gigabytes. 24 MP covers a 6000x4000 camera (72 MB as RGB).
    max_image_pixels: int = Field(default=24_000_000, ge=10_000)

    # Faces are searched in a copy scaled down to this longest side; landmarks and encodings
    # use the full-resolution image. HOG time grows with pixels: a 2048x1364 photo takes
    # 240 ms at full size and 100 ms at 1280. At 1280 every face in the test set is still
    # found (the smallest, in the 3-face photo, is ~160 px there); at 960 one was lost.
    detect_max_side_px: int = Field(default=1280, ge=160)
    # HOG upsampling: 0 finds faces down to ~70 px, each upsample halves that but costs ~4x
    # the time and adds false positives: with 1 the mission patch on the astronaut's suit
    # becomes a second "face". "when_none_found" searches at 0 and upsamples only if nothing
    # was found, which gives exactly one face on every test photo.
    upsample: UpsamplePolicy = "when_none_found"

    # Face box (the larger side, in original pixels) below which we refuse. Distances stay
    # honest down to ~40 px (impostors never came closer than 0.66) but genuine distances
    # climb towards the threshold (0.52 -> 0.54), so a small face risks refusing the right
    # person without saying why. 60 px keeps a 320x240 crop (104 px face) usable, and a
    # head-and-shoulders photo the size of an ID-card chip image (102x126 px) measures 72 px.
    min_face_px: int = Field(default=60, ge=20)
    # Variance of the Laplacian of the face, rescaled to 128x128 grey: live captures only;
    # reference photos (ID-card chip, enrolment) are never refused for softness. Ordinary
    # pictures measured 7-1600 (CCTV stills 7-51, web copies 7-250); same-person pairs failed
    # 96 % of the time when the live face measured under 5 and 4 % above 12 (calibrate's blur
    # ladder), so under 5 the driver is asked to hold still rather than be failed. A gate at
    # 30, as before, refused 41 of 49 CCTV stills that matched fine.
    min_sharpness: float = Field(default=5.0, ge=0)
    # HOG detection score under which a detection does not count as a face while a stronger
    # one at least as big exists: faces scored 0.7-3.1 in ordinary pictures (0.02 in the
    # softest ID chips, kept when alone), the round mission patch on a spacesuit 0.1.
    min_face_score: float = Field(default=0.5, ge=0)
    # Several faces: the largest is verified when it is at least this many times the size of
    # every other face and its centre is at most dominant_max_offset from the picture's centre
    # (0 centred, 1 on the edge); otherwise the picture is ambiguous (multiple_faces). HOG
    # sizes come in steps of 1.2, so 1.4 means two steps: a face pasted behind at 0.5-0.6 times
    # the driver's size was always judged dominant (98 of 98), one of the same size 2 times
    # in 49 (calibrate's second_face table).
    dominant_face_ratio: float = Field(default=1.4, ge=1)
    dominant_max_offset: float = Field(default=0.6, gt=0, le=1)
    # When no face dominates by size, the one in front of the camera is verified if its centre
    # is within central_max_offset of the picture's centre and every other face is at least
    # position_gap further out and either position_min_ratio times smaller (one HOG size step:
    # someone standing behind) or beyond dominant_max_offset (someone passing at the edge).
    # A driver framed by the kiosk measures 0-0.1; a second face pasted behind at 0.5-1.0
    # times his size sits at 0.3-0.8 (calibrate's second_face table).
    central_max_offset: float = Field(default=0.25, ge=0, le=1)
    position_gap: float = Field(default=0.2, ge=0, le=1)
    position_min_ratio: float = Field(default=1.1, ge=1)
    # Mean grey level of the face box, 0-255. Test photos measure 95-187 across skin tones
    # and lighting; the bounds only catch a face lost in the dark or burnt out by a flash.
    min_brightness: float = Field(default=40.0, ge=0, le=255)
    max_brightness: float = Field(default=225.0, ge=0, le=255)
    # Views of the aligned face encoded and averaged: 1 the face itself (face_recognition's
    # encoding), 2 also its mirror image, more adds small fixed turns, zooms and shifts (what
    # dlib's num_jitters does at random, here reproducibly). Each view is one pass of the
    # encoder (~60-150 ms). Measured with `hazgate faces calibrate` (docs/faces.md): 10 views
    # of the reference and 2 of the live face took the ordinary pairs from 0.965 to 0.997
    # accuracy with no false accept; 4 reference views gave 0.995 but a stranger at 0.443.
    # A reference is encoded once (ID card read, registry import: ~0.6-1.2 s), a live face at
    # every visit (2 views: +~100-150 ms).
    reference_views: int = Field(default=10, ge=1, le=32)
    live_views: int = Field(default=2, ge=1, le=32)
    # "clahe": even out the contrast of the face's luminance before encoding (dim or soft
    # faces). Measured: it pushed same-person pairs apart more than strangers; off.
    contrast: Literal["none", "clahe"] = "none"
    # Frames of a live burst encoded and averaged into the live encoding (analyze_burst): the
    # middle frame, judged by every gate, and up to burst_frames - 1 others, evenly spread.
    # Measured: averaging 3 frames removed the last false reject of the gate scenarios but
    # tripled the live face's cost (~0.4 -> 1.2 s), which the mirror view alone nearly matched.
    burst_frames: int = Field(default=1, ge=1, le=15)

    liveness: LivenessSettings = Field(default_factory=LivenessSettings)

    @model_validator(mode="after")
    def _brightness_ordered(self) -> FaceSettings:
        if self.min_brightness >= self.max_brightness:
            raise ValueError(
                f"faces.min_brightness ({self.min_brightness}) must be below "
                f"faces.max_brightness ({self.max_brightness})"
            )
        return self


# What an analysis depends on besides its settings: bump when the code that encodes changes (the
# views' transforms, the detector's use, the models), so stored encodings are made again.
ENGINE_REVISION = "2"
# Settings that only judge a comparison, not what an analysis of one photo gives.
_COMPARISON_ONLY = frozenset({"match_threshold", "burst_frames", "liveness"})


def engine_fingerprint(cfg: FaceSettings) -> str:
    """Names the analysis a photo gets under ``cfg``: two engines with equal fingerprints give the
    same encoding (or refusal) for the same bytes, so a stored one can be used instead."""
    import hashlib

    settings = cfg.model_dump_json(exclude=set(_COMPARISON_ONLY))
    return f"r{ENGINE_REVISION}-" + hashlib.sha256(settings.encode()).hexdigest()[:16]
