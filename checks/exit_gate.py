"""The exit gate (CONTRACT v1.1): the tanker has a stay inside, leaves with a load it may carry,
and its waybill is closed.

- ``visit_found``: the plate has an open stay inside the park.
- ``load_within_limits``: net = gross − tare is within the rated load and within the waybill
  quantity plus the tolerance (max(``weight_tolerance_fraction`` × quantity,
  ``weight_tolerance_min_kg``)). An empty tanker leaving after unloading is fine.
- ``waybill_closed``: the loading or unloading the waybill is for was confirmed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from checks.common import Findings, plate_is_doubtful
from checks.decide import Decision, decide
from checks.facts import GateFacts, MissingInput
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult, CheckStatus
from checks.stay_facts import ExitFacts, StayAtExit
from registry.models import Vehicle


def _require_visit(found: Findings, facts: ExitFacts) -> StayAtExit | None:
    if facts.plate is None:
        found.wait(MissingInput.PLATE, ReasonCode.PLATE_MISSING)
        return None
    found.evidence["plate"] = facts.plate.plate
    if facts.visit is None:
        found.add(ReasonCode.VISIT_NOT_FOUND, CheckStatus.FAIL, plate=facts.plate.plate)
        return None
    found.evidence["visit_id"] = facts.visit.visit_id
    return facts.visit


def visit_found(facts: ExitFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    policy.local_date(now)  # refuses a naive `now`
    found = Findings(CheckCode.VISIT_FOUND)
    visit = _require_visit(found, facts)
    if visit is not None and visit.entered_at is not None:
        found.evidence["entered_at"] = visit.entered_at.isoformat()
        found.evidence["inside_s"] = round((now - visit.entered_at).total_seconds())
    return found.result()


def _require_vehicle(found: Findings, facts: ExitFacts, policy: CheckPolicy) -> Vehicle | None:
    if facts.plate is None:
        found.wait(MissingInput.PLATE, ReasonCode.PLATE_MISSING)
        return None
    found.evidence["plate"] = facts.plate.plate
    if facts.vehicle is None:
        doubtful = plate_is_doubtful(GateFacts(plate=facts.plate), policy)
        status = CheckStatus.REVIEW if doubtful else CheckStatus.FAIL
        found.add(ReasonCode.VEHICLE_UNKNOWN, status, plate=facts.plate.plate)
    return facts.vehicle


def load_within_limits(facts: ExitFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    policy.local_date(now)  # refuses a naive `now`
    found = Findings(CheckCode.LOAD_WITHIN_LIMITS)
    vehicle = _require_vehicle(found, facts, policy)
    if facts.gross_kg is None:
        found.wait(MissingInput.WEIGHT, ReasonCode.WEIGHT_MISSING)
        return found.result()
    found.evidence["gross_kg"] = facts.gross_kg
    if vehicle is None:
        return found.result()
    net_kg = facts.gross_kg - vehicle.tare_kg
    found.evidence |= {"tare_kg": vehicle.tare_kg, "rated_load_kg": vehicle.rated_load_kg, "net_kg": net_kg}
    if net_kg > vehicle.rated_load_kg:
        found.add(
            ReasonCode.OVER_RATED_LOAD,
            CheckStatus.FAIL,
            what_zh="出园过磅净重",
            what_en="net load weighed at the exit",
            load_kg=net_kg,
            plate=vehicle.plate,
            rated_kg=vehicle.rated_load_kg,
        )
    if net_kg < -policy.weight_tolerance_min_kg:
        found.add(ReasonCode.WEIGHT_BELOW_TARE, CheckStatus.REVIEW, gross_kg=facts.gross_kg, tare_kg=vehicle.tare_kg)
    if facts.waybill is None:
        return found.result()
    quantity_kg = facts.waybill.cargo.quantity_kg
    tolerance_kg = max(quantity_kg * policy.weight_tolerance_fraction, policy.weight_tolerance_min_kg)
    found.evidence |= {"waybill_quantity_kg": quantity_kg, "tolerance_kg": tolerance_kg}
    if net_kg > quantity_kg + tolerance_kg:
        found.add(
            ReasonCode.LOAD_ABOVE_WAYBILL,
            CheckStatus.FAIL,
            net_kg=net_kg,
            quantity_kg=quantity_kg,
            tolerance_kg=tolerance_kg,
        )
    return found.result()


def waybill_closed(facts: ExitFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    policy.local_date(now)  # refuses a naive `now`
    found = Findings(CheckCode.WAYBILL_CLOSED)
    visit = _require_visit(found, facts)
    if visit is None:
        return found.result()
    found.evidence["waybill_no"] = visit.waybill_no
    if visit.waybill_closed_at is not None:
        found.evidence["closed_at"] = visit.waybill_closed_at.isoformat()
    else:
        found.add(ReasonCode.WAYBILL_OPEN, CheckStatus.FAIL, waybill_no=visit.waybill_no or "—")
    return found.result()


ExitCheck = Callable[[ExitFacts, datetime, CheckPolicy], CheckResult]
EXIT_CHECKS: dict[CheckCode, ExitCheck] = {
    CheckCode.VISIT_FOUND: visit_found,
    CheckCode.LOAD_WITHIN_LIMITS: load_within_limits,
    CheckCode.WAYBILL_CLOSED: waybill_closed,
}


def evaluate_exit(facts: ExitFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> Decision:
    return decide(check(facts, now, policy) for check in EXIT_CHECKS.values())
