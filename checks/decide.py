"""Run every check on a gate visit and combine their results into the gate's decision.

Precedence: any ``fail`` → fail (more inputs cannot fix it); else any ``pending`` → pending
(the answer may still change); else any ``review`` → review; else pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from checks import inspection_validity, permitted_media, personnel, vehicle_documents, vehicle_status, waybill_match
from checks.facts import GateFacts, MissingInput
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.result import CheckCode, CheckResult, CheckStatus, worst

Check = Callable[[GateFacts, datetime, CheckPolicy], CheckResult]

# The 五必查 in the contract's order, then hazgate's own.
CHECKS: dict[CheckCode, Check] = {
    CheckCode.VEHICLE_DOCUMENTS: vehicle_documents.check,
    CheckCode.PERSONNEL: personnel.check,
    CheckCode.INSPECTION_VALIDITY: inspection_validity.check,
    CheckCode.WAYBILL_MATCH: waybill_match.check,
    CheckCode.PERMITTED_MEDIA: permitted_media.check,
    CheckCode.VEHICLE_STATUS: vehicle_status.check,
}


class Decision(BaseModel):
    """The gate's answer: the overall result, every check's result, and what is still awaited."""

    model_config = ConfigDict(frozen=True)

    result: CheckStatus
    checks: tuple[CheckResult, ...]
    missing_inputs: tuple[MissingInput, ...]


def run_all(facts: GateFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> list[CheckResult]:
    """Every check's result for ``facts`` at ``now``, in ``CHECKS`` order."""
    return [check(facts, now, policy) for check in CHECKS.values()]


def decide(results: Iterable[CheckResult]) -> Decision:
    """Combine check results (see the module docstring for the precedence)."""
    checks = tuple(results)
    if not checks:
        raise ValueError("decide() needs at least one check result; an empty list would pass nothing")
    awaited = {item for check in checks for item in check.missing_inputs}
    return Decision(
        result=worst(check.status for check in checks),
        checks=checks,
        missing_inputs=tuple(item for item in MissingInput if item in awaited),
    )


def evaluate(facts: GateFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> Decision:
    """``decide(run_all(...))``: the decision for a gate visit."""
    return decide(run_all(facts, now, policy))
