"""Tunable limits of the checks, with the park's local time.

Passed to every check (``DEFAULT_POLICY`` unless a site configures its own), so tests and sites
change a limit without touching a check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class NoEnrolledPhoto(StrEnum):
    """What the personnel check does for a registered person without a usable enrolled photo
    (flagged ``no_usable_photo`` at import, or never enrolled). Either way the live face is
    compared with the ID-card chip photo, which is the fallback: a mismatch there still fails."""

    # An officer confirms who it is (status review): the park's safe default.
    REVIEW = "review"
    # The ID-card comparison decides alone; the check passes with a notice to re-enrol.
    ID_CARD_PHOTO = "id_card_photo"


class FaceReferences(StrEnum):
    """How the live face's distances to the ID-card photo and to the enrolled photo decide."""

    # Each photo must match on its own: the farther one decides.
    EACH = "each"
    # The mean distance to the two photos decides, provided the two photos match each other
    # (else as EACH): two looks at the same person, years apart, are better evidence than
    # either alone, while a card whose photo is not the enrolled person's gains nothing.
    MEAN = "mean"


def fused_face_distance(distances: Sequence[float], rule: FaceReferences, references_agree: bool = True) -> float:
    """The distance the face decision is made on, from the distances to each reference photo.

    ``references_agree``: the reference photos match each other (their distance is within the
    threshold); without that, MEAN falls back to EACH.
    """
    if not distances:
        raise ValueError("no distances to fuse")
    if rule is FaceReferences.EACH or not references_agree:
        return max(distances)
    return math.fsum(distances) / len(distances)


class CheckPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # China Standard Time is UTC+8 all year (no daylight saving), so a fixed offset is exact and
    # needs no tz database. A document's expiry date is a day on this calendar.
    utc_offset_minutes: int = Field(default=8 * 60, ge=-12 * 60, le=14 * 60)
    # A document that expires within this many days passes with a warning to renew it: a month
    # is the usual lead time to book an inspection or a permit renewal.
    expiry_warning_days: int = Field(default=30, ge=0)
    # Below this plate-read confidence an officer confirms the plate (review) instead of trusting it.
    plate_min_confidence: float = Field(default=0.90, ge=0, le=1)
    # A face distance above the matcher's threshold by at most this much goes to an officer
    # (review) rather than failing: the threshold is not a sharp line between two people.
    # 0.07: every same-person pair of the internal set (photos up to a decade apart, the
    # farthest 0.506 at threshold 0.44) lands here rather than in a plain mismatch, while only
    # 27 of 20,340 ordinary stranger pairs do (`hazgate faces calibrate --review-margin`).
    face_review_margin: float = Field(default=0.07, ge=0)
    # How the two reference photos (ID-card chip, enrolled photo) decide together.
    # (mean: measured with `hazgate faces calibrate --scenarios gate`, docs/faces.md)
    face_references: FaceReferences = FaceReferences.MEAN
    # The weighed net load may exceed the waybill quantity by this much (the larger of the two)
    # before an officer looks: weighbridges are accurate to about 0.1 %, product densities vary.
    weight_tolerance_fraction: float = Field(default=0.02, ge=0)
    weight_tolerance_min_kg: float = Field(default=200.0, ge=0)
    # GPS trackers of hazardous-goods vehicles report every 30 s while driving; ten minutes of
    # silence at the gate means the tracker is off or disconnected.
    gps_max_silence_s: float = Field(default=600.0, gt=0)
    # A registered person with no usable enrolled photo: officer review, or the ID-card photo alone.
    no_enrolled_photo: NoEnrolledPhoto = NoEnrolledPhoto.REVIEW
    # A booked tanker may pass the entry gate this long before its slot starts or after it ends:
    # the call from the waiting lot to the barrier, and a queue running late, take minutes.
    booking_grace_s: float = Field(default=900.0, ge=0)

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(minutes=self.utc_offset_minutes))

    def local_date(self, now: datetime) -> date:
        """The park's calendar day at ``now``, which must carry a timezone."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("checks need a timezone-aware `now`")
        return now.astimezone(self.tz).date()

    def local_time(self, moment: datetime) -> str:
        """``moment`` as the park's wall-clock time for messages, like ``2026-05-01 08:30``."""
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")


DEFAULT_POLICY = CheckPolicy()
