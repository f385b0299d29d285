"""必查五: what the vehicle may carry — the waybill's medium is one its tank is approved for, and
neither the waybill quantity nor the weighed net load (gross − tare) is over the rated load.

A weighed net load above the waybill quantity beyond the tolerance goes to an officer; a lighter
one does not, since a tanker arriving to load is empty.
"""

from __future__ import annotations

from datetime import datetime

from checks.common import Findings, require_vehicle
from checks.facts import GateFacts, MissingInput
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult, CheckStatus
from registry.models import Vehicle, Waybill


def _require_waybill(found: Findings, facts: GateFacts) -> Waybill | None:
    if facts.waybill_no is None:
        found.wait(MissingInput.WAYBILL, ReasonCode.WAYBILL_MISSING)
    elif facts.waybill is None:
        found.add(ReasonCode.WAYBILL_NOT_FOUND, CheckStatus.FAIL, waybill_no=facts.waybill_no)
    return facts.waybill


def _check_cargo(found: Findings, vehicle: Vehicle, waybill: Waybill) -> None:
    cargo, tank = waybill.cargo, vehicle.tank
    if cargo.un not in tank.permitted_un:
        found.add(
            ReasonCode.MEDIUM_NOT_PERMITTED,
            CheckStatus.FAIL,
            tank_id=tank.id,
            un=cargo.un,
            cargo_name=cargo.name,
            permitted="、".join(tank.permitted_un),
        )
    if cargo.quantity_kg > vehicle.rated_load_kg:
        found.add(
            ReasonCode.OVER_RATED_LOAD,
            CheckStatus.FAIL,
            what_zh="运单货物",
            what_en="waybill quantity",
            load_kg=cargo.quantity_kg,
            plate=vehicle.plate,
            rated_kg=vehicle.rated_load_kg,
        )


def _check_weight(
    found: Findings, vehicle: Vehicle, waybill: Waybill | None, gross_kg: float, policy: CheckPolicy
) -> None:
    net_kg = gross_kg - vehicle.tare_kg
    found.evidence["net_kg"] = net_kg
    if net_kg > vehicle.rated_load_kg:
        found.add(
            ReasonCode.OVER_RATED_LOAD,
            CheckStatus.FAIL,
            what_zh="过磅净重",
            what_en="weighed net load",
            load_kg=net_kg,
            plate=vehicle.plate,
            rated_kg=vehicle.rated_load_kg,
        )
    if net_kg < -policy.weight_tolerance_min_kg:
        found.add(ReasonCode.WEIGHT_BELOW_TARE, CheckStatus.REVIEW, gross_kg=gross_kg, tare_kg=vehicle.tare_kg)
    if waybill is None:
        return
    quantity_kg = waybill.cargo.quantity_kg
    tolerance_kg = max(quantity_kg * policy.weight_tolerance_fraction, policy.weight_tolerance_min_kg)
    found.evidence["weight_tolerance_kg"] = tolerance_kg
    if net_kg > quantity_kg + tolerance_kg:
        found.add(
            ReasonCode.WEIGHT_ABOVE_WAYBILL,
            CheckStatus.REVIEW,
            net_kg=net_kg,
            quantity_kg=quantity_kg,
            excess_kg=net_kg - quantity_kg,
        )


def check(facts: GateFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    policy.local_date(now)  # refuses a naive `now`
    found = Findings(CheckCode.PERMITTED_MEDIA)
    vehicle = require_vehicle(found, facts, policy)
    waybill = _require_waybill(found, facts)
    if facts.gross_kg is None:
        found.wait(MissingInput.WEIGHT, ReasonCode.WEIGHT_MISSING)
    else:
        found.evidence["gross_kg"] = facts.gross_kg
    if vehicle is not None:
        found.evidence |= {
            "tank_id": vehicle.tank.id,
            "permitted_un": list(vehicle.tank.permitted_un),
            "rated_load_kg": vehicle.rated_load_kg,
            "tare_kg": vehicle.tare_kg,
        }
    if waybill is not None:
        found.evidence |= {"cargo_un": waybill.cargo.un, "cargo_quantity_kg": waybill.cargo.quantity_kg}
    if vehicle is not None and waybill is not None:
        _check_cargo(found, vehicle, waybill)
    if vehicle is not None and facts.gross_kg is not None:
        _check_weight(found, vehicle, waybill, facts.gross_kg, policy)
    return found.result()
