"""必查一: the vehicle's documents — registered, vehicle licence and road transport permit valid,
its carrier registered with a valid hazardous-goods transport licence."""

from __future__ import annotations

from datetime import datetime

from checks.common import Document, Findings, check_expiry, plate_is_doubtful, require_vehicle
from checks.facts import GateFacts
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult, CheckStatus

VEHICLE_LICENSE = Document("车辆行驶证", "vehicle licence", ReasonCode.VEHICLE_LICENSE_EXPIRED)
TRANSPORT_PERMIT = Document("道路运输证", "road transport permit", ReasonCode.TRANSPORT_PERMIT_EXPIRED)
CARRIER_PERMIT = Document(
    "承运企业道路危险货物运输经营许可证",
    "carrier's hazardous-goods transport licence",
    ReasonCode.CARRIER_PERMIT_EXPIRED,
)


def check(facts: GateFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    today = policy.local_date(now)
    found = Findings(CheckCode.VEHICLE_DOCUMENTS)
    found.evidence["today"] = today.isoformat()
    if facts.plate is not None and plate_is_doubtful(facts, policy):
        found.add(
            ReasonCode.PLATE_LOW_CONFIDENCE,
            CheckStatus.REVIEW,
            plate=facts.plate.plate,
            confidence=facts.plate.confidence,
        )
    vehicle = require_vehicle(found, facts, policy)
    if vehicle is None:
        return found.result()
    found.evidence |= {
        "vehicle_license_expires": vehicle.vehicle_license_expires.isoformat(),
        "transport_permit_no": vehicle.transport_permit_no,
        "transport_permit_expires": vehicle.transport_permit_expires.isoformat(),
        "carrier_id": vehicle.carrier_id,
    }
    check_expiry(found, VEHICLE_LICENSE, vehicle.vehicle_license_expires, today, policy, plate=vehicle.plate)
    check_expiry(
        found,
        TRANSPORT_PERMIT,
        vehicle.transport_permit_expires,
        today,
        policy,
        number=vehicle.transport_permit_no,
    )
    carrier = facts.carrier
    if carrier is None:
        found.add(ReasonCode.CARRIER_UNKNOWN, CheckStatus.FAIL, carrier_id=vehicle.carrier_id)
        return found.result()
    found.evidence |= {
        "carrier_name": carrier.name,
        "carrier_permit_no": carrier.permit_no,
        "carrier_permit_expires": carrier.permit_expires.isoformat(),
    }
    check_expiry(
        found,
        CARRIER_PERMIT,
        carrier.permit_expires,
        today,
        policy,
        carrier=carrier.name,
        number=carrier.permit_no,
    )
    return found.result()
