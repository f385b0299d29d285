"""The gate checks (五必查 and hazgate's own): pure functions of a gate visit's facts and the time.

Each check module has ``check(facts: GateFacts, now: datetime, policy=DEFAULT_POLICY) -> CheckResult``;
``decide.run_all`` runs them all and ``decide.decide`` combines their results. No I/O, no clock,
no global state: the gateway gathers ``GateFacts`` and passes ``now``.
"""

from __future__ import annotations

from checks.decide import CHECKS, Decision, decide, evaluate, run_all
from checks.facts import (
    MISSING_INPUT_PROMPTS,
    FaceEvidence,
    FaceProblem,
    GateFacts,
    GpsTracker,
    IdCardRead,
    MissingInput,
    OpenAlert,
    PersonAtGate,
    PlateRead,
    VehicleStatusFacts,
    missing_inputs,
)
from checks.policy import DEFAULT_POLICY, CheckPolicy, NoEnrolledPhoto
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult, CheckStatus, Reason

__all__ = [
    "CHECKS",
    "DEFAULT_POLICY",
    "MISSING_INPUT_PROMPTS",
    "CheckCode",
    "CheckPolicy",
    "CheckResult",
    "CheckStatus",
    "Decision",
    "FaceEvidence",
    "FaceProblem",
    "GateFacts",
    "GpsTracker",
    "IdCardRead",
    "MissingInput",
    "NoEnrolledPhoto",
    "OpenAlert",
    "PersonAtGate",
    "PlateRead",
    "Reason",
    "ReasonCode",
    "VehicleStatusFacts",
    "decide",
    "evaluate",
    "missing_inputs",
    "run_all",
]
