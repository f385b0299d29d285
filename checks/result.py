"""What a check returns: a status, the reasons for it, and the evidence it looked at."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from checks.facts import MissingInput
from checks.reasons import MESSAGES, ReasonCode


class CheckCode(StrEnum):
    """The 五必查 of CONTRACT.md, then hazgate's own checks; then the stay's (v1.1): the entry
    gate's blacklist and booking checks, and the exit gate's three."""

    VEHICLE_DOCUMENTS = "vehicle_documents"
    PERSONNEL = "personnel"
    INSPECTION_VALIDITY = "inspection_validity"
    WAYBILL_MATCH = "waybill_match"
    PERMITTED_MEDIA = "permitted_media"
    VEHICLE_STATUS = "vehicle_status"
    BLACKLIST = "blacklist"
    BOOKING = "booking"
    VISIT_FOUND = "visit_found"
    LOAD_WITHIN_LIMITS = "load_within_limits"
    WAYBILL_CLOSED = "waybill_closed"


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 (a status, not a password) — everything needed is here and in order
    FAIL = "fail"  # something is wrong; the vehicle may not enter as it is
    REVIEW = "review"  # nothing is known to be wrong, but an officer must look
    PENDING = "pending"  # an input has not arrived yet


# Which status wins when several apply: a known failure outweighs waiting for more inputs
# (they cannot make it pass), and waiting outweighs asking an officer (the answer may change).
_PRECEDENCE = (CheckStatus.FAIL, CheckStatus.PENDING, CheckStatus.REVIEW, CheckStatus.PASS)


def worst(statuses: Iterable[CheckStatus]) -> CheckStatus:
    """The status that wins among ``statuses`` (``pass`` when there are none)."""
    present = set(statuses)
    return next(status for status in _PRECEDENCE if status in present or status is CheckStatus.PASS)


class Reason(BaseModel):
    """One finding of a check. ``status`` is what this finding alone makes of the check; a
    reason with status ``pass`` is a notice (a document expiring soon)."""

    model_config = ConfigDict(frozen=True)

    code: ReasonCode
    status: CheckStatus
    message_zh: str
    message: str  # English

    @classmethod
    def of(cls, code: ReasonCode, status: CheckStatus, **params: object) -> Reason:
        """A reason with the catalogue's messages for ``code``, filled with ``params``."""
        zh, en = MESSAGES[code]
        return cls(code=code, status=status, message_zh=zh.format(**params), message=en.format(**params))


class CheckResult(BaseModel):
    """The outcome of one check.

    ``evidence`` records what the check looked at (documents, dates, distances) as JSON values;
    ``missing_inputs`` lists the inputs it still waits for.
    """

    model_config = ConfigDict(frozen=True)

    code: CheckCode
    status: CheckStatus
    reasons: tuple[Reason, ...] = ()
    evidence: dict[str, JsonValue] = Field(default_factory=dict)
    missing_inputs: tuple[MissingInput, ...] = ()
