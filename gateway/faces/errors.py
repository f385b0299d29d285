"""Why a face image could not be used. One base class; the code is what the outside sees.

Two families, because callers treat them differently:

* :class:`ImageInputError` (``not_an_image``, ``image_too_large``): the bytes themselves are
  unusable. The gateway records the input as rejected; a person cannot fix it by moving.
* :class:`FaceUnusableError` (``face_not_found``, ``face_quality``): a decodable picture with no
  single usable face. These codes are gate reason codes in the contract, shown on the kiosk
  with the hint, so the driver can step closer, face the camera or wait for better light.
"""

from __future__ import annotations

from typing import Literal

from hazgate.errors import HazgateError

FaceErrorCode = Literal["not_an_image", "image_too_large", "face_not_found", "face_quality"]
InputErrorCode = Literal["not_an_image", "image_too_large"]
UnusableCode = Literal["face_not_found", "face_quality"]
# Sub-codes of face_quality: which property failed, so a kiosk can show the right advice.
QualityIssue = Literal["multiple_faces", "too_small", "too_blurry", "too_dark", "too_bright"]
Evidence = dict[str, int | float | str]


class FaceError(HazgateError):
    """Base of every error the face engine raises on purpose."""

    def __init__(
        self,
        code: FaceErrorCode,
        message: str,
        *,
        hint: str | None = None,
        issue: QualityIssue | None = None,
        evidence: Evidence | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.code: FaceErrorCode = code
        self.issue = issue
        self.evidence: Evidence = dict(evidence or {})

    def to_dict(self) -> dict[str, object]:
        """The JSON shape of the contract, ``{"error": CODE, "message": ...}``, plus details."""
        out: dict[str, object] = {"error": self.code, "message": self.message}
        if self.issue is not None:
            out["issue"] = self.issue
        if self.hint is not None:
            out["hint"] = self.hint
        if self.evidence:
            out["evidence"] = dict(self.evidence)
        return out


class ImageInputError(FaceError):
    """The bytes are not an acceptable image (``not_an_image``, ``image_too_large``)."""

    def __init__(self, code: InputErrorCode, message: str, *, hint: str | None = None) -> None:
        super().__init__(code, message, hint=hint)


class FaceUnusableError(FaceError):
    """A picture without exactly one usable face (``face_not_found``, ``face_quality``)."""

    def __init__(
        self,
        code: UnusableCode,
        message: str,
        *,
        hint: str | None = None,
        issue: QualityIssue | None = None,
        evidence: Evidence | None = None,
    ) -> None:
        super().__init__(code, message, hint=hint, issue=issue, evidence=evidence)
