"""必查二: the people — a driver and an escort (required on every hazardous-goods vehicle), each
registered, holding an unexpired qualification of the class their role needs, and each the
person whose ID card they presented (live face against the card photo and the enrolled photo).

Registry ``roles`` are not consulted: the qualification class decides what a person may do.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import JsonValue

from checks.common import CARD_MISSING, ROLE_ZH, Document, Findings, check_expiry, mask_id
from checks.facts import FACE_INPUT, ID_CARD_INPUT, FaceEvidence, FaceProblem, GateFacts, PersonAtGate
from checks.policy import DEFAULT_POLICY, CheckPolicy, FaceReferences, NoEnrolledPhoto, fused_face_distance
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult, CheckStatus
from registry.models import EnrolmentFlag, FlagCode, PersonRecord, Role

QUALIFICATION = {
    Role.DRIVER: Document("驾驶员从业资格证", "driver's qualification certificate", ReasonCode.QUALIFICATION_EXPIRED),
    Role.ESCORT: Document("押运员从业资格证", "escort's qualification certificate", ReasonCode.QUALIFICATION_EXPIRED),
}
# What the English message says about a face problem when the vision layer gave no detail.
PROBLEM_DETAIL = {
    FaceProblem.FACE_NOT_FOUND: "no face in the camera image",
    FaceProblem.FACE_QUALITY: "blurred, too dark or turned away",
}
ID_PHOTO = ("身份证照片", "ID card photo")
ENROLLED_PHOTO = ("备案照片", "enrolled photo")
BOTH_PHOTOS = ("身份证照片和备案照片", "ID card and enrolled photos")
# What a person without a usable enrolled photo is told, by policy: (status, Chinese, English).
NEXT_STEP = {
    NoEnrolledPhoto.REVIEW: (CheckStatus.REVIEW, "请等待工作人员核验。", "Wait for an officer to check."),
    NoEnrolledPhoto.ID_CARD_PHOTO: (
        CheckStatus.PASS,
        "请承运企业重新上传备案照片。",
        "The carrier should enrol a new photo.",
    ),
}


def _compare(
    found: Findings, role: Role, distance: float, face: FaceEvidence, policy: CheckPolicy, photo: tuple[str, str]
) -> None:
    if distance <= face.threshold:
        return
    status = CheckStatus.REVIEW if distance <= face.threshold + policy.face_review_margin else CheckStatus.FAIL
    code = ReasonCode.FACE_BORDERLINE if status is CheckStatus.REVIEW else ReasonCode.FACE_MISMATCH
    found.add(code, status, role_zh=ROLE_ZH[role], role_en=role.value, photo_zh=photo[0], photo_en=photo[1])


def _without_enrolled_photo(
    found: Findings, role: Role, record: PersonRecord, flags: tuple[EnrolmentFlag, ...], policy: CheckPolicy
) -> dict[str, JsonValue]:
    """The fallback: the ID-card comparison (already made) stands alone; review or a notice by policy."""
    status, next_zh, next_en = NEXT_STEP[policy.no_enrolled_photo]
    names = {"role_zh": ROLE_ZH[role], "role_en": role.value, "name": record.name, "next_zh": next_zh}
    unusable = next((f for f in flags if f.code is FlagCode.NO_USABLE_PHOTO), None)
    if unusable is None:
        found.add(ReasonCode.ENROLLED_PHOTO_MISSING, status, next_en=next_en, **names)
    else:
        detail = unusable.reason + (f"/{unusable.issue}" if unusable.issue else "")
        found.add(ReasonCode.ENROLLED_PHOTO_UNUSABLE, status, detail=detail, next_en=next_en, **names)
    return {
        "usable": False,
        "flags": [f.model_dump(mode="json") for f in flags],
        "fallback": "id_card_photo",
        "policy": policy.no_enrolled_photo.value,
    }


def _photos_agree(face: FaceEvidence) -> bool:
    """The ID-card photo and the enrolled photo show the same person (so their mean may decide)."""
    between = face.distance_between_photos
    return between is not None and between <= face.threshold


def _check_face(
    found: Findings,
    role: Role,
    face: FaceEvidence,
    record: PersonRecord | None,
    policy: CheckPolicy,
    flags: tuple[EnrolmentFlag, ...] = (),
) -> dict[str, JsonValue]:
    evidence: dict[str, JsonValue] = {
        "threshold": face.threshold,
        "distance_to_id_photo": face.distance_to_id_photo,
        "distance_to_enrolled": face.distance_to_enrolled,
        "distance_between_photos": face.distance_between_photos,
        "liveness": face.liveness,
        "problem": None if face.problem is None else face.problem.value,
        "faces": face.faces,
        "dominant": face.dominant,
        "dominant_by": face.dominant_by,
        "frames": face.frames,
        "references": policy.face_references.value,
    }
    names = {"role_zh": ROLE_ZH[role], "role_en": role.value}
    if face.problem is not None:
        detail = face.problem_message or PROBLEM_DETAIL[face.problem]
        found.add(ReasonCode(face.problem.value), CheckStatus.FAIL, detail=detail, **names)
        return evidence
    if face.liveness is False:
        found.add(ReasonCode.LIVENESS_FAILED, CheckStatus.FAIL, **names)
    assert face.distance_to_id_photo is not None  # FaceEvidence holds a distance when no problem
    if record is None:
        # Not registered: already a failure, and there is no enrolled photo.
        _compare(found, role, face.distance_to_id_photo, face, policy, ID_PHOTO)
        return evidence
    if face.distance_to_enrolled is None:
        _compare(found, role, face.distance_to_id_photo, face, policy, ID_PHOTO)
        evidence["enrolled_photo"] = _without_enrolled_photo(found, role, record, flags, policy)
    elif policy.face_references is FaceReferences.MEAN and _photos_agree(face):
        distances = (face.distance_to_id_photo, face.distance_to_enrolled)
        fused = fused_face_distance(distances, policy.face_references)
        evidence["mean_distance"] = round(fused, 4)
        _compare(found, role, fused, face, policy, BOTH_PHOTOS)
    else:
        _compare(found, role, face.distance_to_id_photo, face, policy, ID_PHOTO)
        _compare(found, role, face.distance_to_enrolled, face, policy, ENROLLED_PHOTO)
    return evidence


def _check_record(
    found: Findings, role: Role, person: PersonAtGate, today: date, policy: CheckPolicy
) -> dict[str, JsonValue]:
    card = person.id_card
    assert card is not None
    record = person.record
    names = {"role_zh": ROLE_ZH[role], "role_en": role.value}
    if record is None:
        found.add(
            ReasonCode.ID_CARD_NOT_REGISTERED,
            CheckStatus.FAIL,
            name=card.name,
            id_masked=mask_id(card.id_number),
            **names,
        )
        return {"registered": False}
    if card.name.strip() != record.name:
        found.add(
            ReasonCode.ID_CARD_NAME_MISMATCH, CheckStatus.REVIEW, card_name=card.name, registered_name=record.name
        )
    held = record.qualification_class
    if held is not role:
        found.add(
            ReasonCode.QUALIFICATION_WRONG_CLASS,
            CheckStatus.FAIL,
            name=record.name,
            held_zh=ROLE_ZH[held],
            held_en=held.value,
            **names,
        )
    check_expiry(
        found,
        QUALIFICATION[held],
        record.qualification_expires,
        today,
        policy,
        name=record.name,
        number=record.qualification_no,
        **names,
    )
    return {
        "registered": True,
        "qualification_no": record.qualification_no,
        "qualification_class": held.value,
        "qualification_expires": record.qualification_expires.isoformat(),
    }


def _check_person(found: Findings, facts: GateFacts, role: Role, today: date, policy: CheckPolicy) -> None:
    person = facts.person(role)
    evidence: dict[str, JsonValue] = {}
    if person.id_card is None:
        found.wait(ID_CARD_INPUT[role], CARD_MISSING[role])
    else:
        evidence |= {"id_number": person.id_card.id_number, "name": person.id_card.name}
        evidence |= _check_record(found, role, person, today, policy)
    if person.face is None:
        found.wait(FACE_INPUT[role], ReasonCode.FACE_MISSING, role_zh=ROLE_ZH[role], role_en=role.value)
    else:
        evidence["face"] = _check_face(found, role, person.face, person.record, policy, person.enrolment_flags)
    found.evidence[role.value] = evidence


def check(facts: GateFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    today = policy.local_date(now)
    found = Findings(CheckCode.PERSONNEL)
    found.evidence["today"] = today.isoformat()
    for role in Role:
        _check_person(found, facts, role, today, policy)
    driver_card, escort_card = facts.driver.id_card, facts.escort.id_card
    if driver_card is not None and escort_card is not None and driver_card.id_number == escort_card.id_number:
        found.add(ReasonCode.ESCORT_IS_DRIVER, CheckStatus.FAIL, name=escort_card.name)
    return found.result()
