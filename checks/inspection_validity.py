"""必查三: inspections in date — the vehicle's safety inspection and the tank's periodic inspection."""

from __future__ import annotations

from datetime import datetime

from checks.common import Document, Findings, check_expiry, require_vehicle
from checks.facts import GateFacts
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult

VEHICLE_INSPECTION = Document("车辆安全技术检验", "vehicle safety inspection", ReasonCode.VEHICLE_INSPECTION_EXPIRED)
TANK_INSPECTION = Document("罐体定期检验", "tank periodic inspection", ReasonCode.TANK_INSPECTION_EXPIRED)


def check(facts: GateFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    today = policy.local_date(now)
    found = Findings(CheckCode.INSPECTION_VALIDITY)
    found.evidence["today"] = today.isoformat()
    vehicle = require_vehicle(found, facts, policy)
    if vehicle is None:
        return found.result()
    tank = vehicle.tank
    found.evidence |= {
        "vehicle_inspection_expires": vehicle.inspection_expires.isoformat(),
        "tank_id": tank.id,
        "tank_inspection_expires": tank.inspection_expires.isoformat(),
    }
    check_expiry(found, VEHICLE_INSPECTION, vehicle.inspection_expires, today, policy, plate=vehicle.plate)
    check_expiry(found, TANK_INSPECTION, tank.inspection_expires, today, policy, tank_id=tank.id)
    return found.result()
