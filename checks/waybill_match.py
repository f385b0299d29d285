"""必查四: the waybill — scanned, on file, valid now, and naming this vehicle, this driver and
this escort.

Validity is inclusive at both ends: a waybill admits the vehicle from ``valid_from`` up to and
including ``valid_to``.
"""

from __future__ import annotations

from datetime import datetime

from checks.common import CARD_MISSING, ROLE_ZH, Findings, mask_id, plate_is_doubtful
from checks.facts import ID_CARD_INPUT, GateFacts, MissingInput
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult, CheckStatus
from registry.models import Role, Waybill


def _check_plate(found: Findings, facts: GateFacts, waybill: Waybill, policy: CheckPolicy) -> None:
    if facts.plate is None:
        found.wait(MissingInput.PLATE, ReasonCode.PLATE_MISSING)
        return
    if facts.plate.plate != waybill.plate:
        # A doubtful read that differs from the waybill may be the misread: an officer looks.
        status = CheckStatus.REVIEW if plate_is_doubtful(facts, policy) else CheckStatus.FAIL
        found.add(
            ReasonCode.WAYBILL_VEHICLE_MISMATCH,
            status,
            waybill_no=waybill.waybill_no,
            waybill_plate=waybill.plate,
            plate=facts.plate.plate,
        )


def _check_people(found: Findings, facts: GateFacts, waybill: Waybill) -> None:
    for role, listed in ((Role.DRIVER, waybill.driver_id), (Role.ESCORT, waybill.escort_id)):
        card = facts.person(role).id_card
        if card is None:
            found.wait(ID_CARD_INPUT[role], CARD_MISSING[role])
        elif card.id_number != listed:
            found.add(
                ReasonCode.WAYBILL_PERSONNEL_MISMATCH,
                CheckStatus.FAIL,
                waybill_no=waybill.waybill_no,
                role_zh=ROLE_ZH[role],
                role_en=role.value,
                name=card.name,
                id_masked=mask_id(card.id_number),
            )


def check(facts: GateFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    policy.local_date(now)  # refuses a naive `now`
    found = Findings(CheckCode.WAYBILL_MATCH)
    found.evidence["now"] = now.isoformat()
    if facts.waybill_no is None:
        found.wait(MissingInput.WAYBILL, ReasonCode.WAYBILL_MISSING)
        return found.result()
    found.evidence["waybill_no"] = facts.waybill_no
    waybill = facts.waybill
    if waybill is None:
        found.add(ReasonCode.WAYBILL_NOT_FOUND, CheckStatus.FAIL, waybill_no=facts.waybill_no)
        return found.result()
    found.evidence |= {
        "valid_from": waybill.valid_from.isoformat(),
        "valid_to": waybill.valid_to.isoformat(),
        "waybill_plate": waybill.plate,
        "waybill_driver_id": waybill.driver_id,
        "waybill_escort_id": waybill.escort_id,
        "cargo_un": waybill.cargo.un,
        "cargo_name": waybill.cargo.name,
        "cargo_class": waybill.cargo.hazard_class,
        "cargo_quantity_kg": waybill.cargo.quantity_kg,
    }
    if now < waybill.valid_from:
        found.add(
            ReasonCode.WAYBILL_NOT_YET_VALID,
            CheckStatus.FAIL,
            waybill_no=waybill.waybill_no,
            valid_from=policy.local_time(waybill.valid_from),
        )
    elif now > waybill.valid_to:
        found.add(
            ReasonCode.WAYBILL_EXPIRED,
            CheckStatus.FAIL,
            waybill_no=waybill.waybill_no,
            valid_to=policy.local_time(waybill.valid_to),
        )
    _check_plate(found, facts, waybill, policy)
    _check_people(found, facts, waybill)
    return found.result()
