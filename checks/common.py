"""What several checks share: collecting findings, the vehicle lookup, document expiry.

Expiry rule: a document whose expiry date is D is valid through the whole of day D on the park's
calendar (``CheckPolicy.local_date``) and expired from the next day on. Within
``expiry_warning_days`` before D it passes with a ``document_expiring_soon`` notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pydantic import JsonValue

from checks.facts import GateFacts, MissingInput
from checks.policy import CheckPolicy
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult, CheckStatus, Reason, worst
from registry.models import Role, Vehicle

ROLE_ZH = {Role.DRIVER: "驾驶员", Role.ESCORT: "押运员"}
# An ID card not read yet: the contract's codes for a person missing at the gate.
CARD_MISSING = {Role.DRIVER: ReasonCode.DRIVER_MISSING, Role.ESCORT: ReasonCode.ESCORT_MISSING}


def mask_id(id_number: str) -> str:
    """An ID number as shown on a public screen: region and last four digits only."""
    if len(id_number) <= 10:
        return id_number
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


@dataclass
class Findings:
    """Collects one check's reasons, evidence and missing inputs, then makes its result."""

    code: CheckCode
    reasons: list[Reason] = field(default_factory=list)
    evidence: dict[str, JsonValue] = field(default_factory=dict)
    missing: list[MissingInput] = field(default_factory=list)

    def add(self, code: ReasonCode, status: CheckStatus, **params: object) -> None:
        self.reasons.append(Reason.of(code, status, **params))

    def wait(self, missing: MissingInput, code: ReasonCode, **params: object) -> None:
        """Record that ``missing`` has not arrived: the check is pending on it."""
        if missing not in self.missing:
            self.missing.append(missing)
        self.add(code, CheckStatus.PENDING, **params)

    def result(self) -> CheckResult:
        return CheckResult(
            code=self.code,
            status=worst(reason.status for reason in self.reasons),
            reasons=tuple(self.reasons),
            evidence=self.evidence,
            missing_inputs=tuple(self.missing),
        )


def plate_is_doubtful(facts: GateFacts, policy: CheckPolicy) -> bool:
    return facts.plate is not None and facts.plate.confidence < policy.plate_min_confidence


def require_vehicle(found: Findings, facts: GateFacts, policy: CheckPolicy) -> Vehicle | None:
    """The vehicle record, or None after recording why there is none.

    No plate read yet: pending. A plate read but no record: ``vehicle_unknown``, which is a
    failure, or a review when the read itself is doubtful (it may be a misread).
    """
    if facts.plate is None:
        found.wait(MissingInput.PLATE, ReasonCode.PLATE_MISSING)
        return None
    found.evidence["plate"] = facts.plate.plate
    found.evidence["plate_confidence"] = facts.plate.confidence
    if facts.vehicle is None:
        status = CheckStatus.REVIEW if plate_is_doubtful(facts, policy) else CheckStatus.FAIL
        found.add(ReasonCode.VEHICLE_UNKNOWN, status, plate=facts.plate.plate)
        return None
    return facts.vehicle


@dataclass(frozen=True)
class Document:
    """A dated document, named for the messages: what it is in Chinese and in English."""

    name_zh: str
    name_en: str
    expired_code: ReasonCode


def check_expiry(
    found: Findings,
    document: Document,
    expires: date,
    today: date,
    policy: CheckPolicy,
    **params: object,
) -> None:
    """Fail with ``document.expired_code`` if ``expires`` is before ``today``; warn when it is near."""
    if today > expires:
        found.add(document.expired_code, CheckStatus.FAIL, expires=expires.isoformat(), **params)
        return
    days_left = (expires - today).days
    if days_left <= policy.expiry_warning_days:
        found.add(
            ReasonCode.DOCUMENT_EXPIRING_SOON,
            CheckStatus.PASS,
            doc_zh=document.name_zh,
            doc_en=document.name_en,
            expires=expires.isoformat(),
            days=days_left,
        )
