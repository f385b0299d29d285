"""The stay's pure checks, as stories: what a carrier hears at booking time, what the entry gate adds
(blacklist, booking), and what the exit gate weighs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from checks import CheckCode, CheckStatus, ReasonCode
from checks.booking import admitting
from checks.entry import evaluate_entry
from checks.exit_gate import evaluate_exit
from checks.precheck import BookingRequestFacts, precheck
from checks.stay_facts import BookingFacts, BookingSeen, BookingState, Listing, SubjectKind
from registry.models import Role
from tests.test_checks import (
    DRIVER_ID,
    ESCORT_ID,
    NOW,
    PLATE,
    TODAY,
    make_carrier,
    make_exit,
    make_facts,
    make_record,
    make_tank,
    make_vehicle,
    make_waybill,
)

SLOT_START = NOW + timedelta(days=2)
SLOT_END = SLOT_START + timedelta(hours=4)


def make_request(**overrides: Any) -> BookingRequestFacts:
    waybill = make_waybill(valid_from=SLOT_START - timedelta(hours=6), valid_to=SLOT_END + timedelta(hours=6))
    fields: dict[str, Any] = {
        "plate": PLATE,
        "vehicle": make_vehicle(),
        "carrier": make_carrier(),
        "waybill_no": waybill.waybill_no,
        "waybill": waybill,
        "driver_id": DRIVER_ID,
        "escort_id": ESCORT_ID,
        "driver": make_record(Role.DRIVER),
        "escort": make_record(Role.ESCORT),
        "slot_start": SLOT_START,
        "slot_end": SLOT_END,
    }
    return BookingRequestFacts(**(fields | overrides))


def reasons(decision: Any, code: CheckCode) -> list[ReasonCode]:
    return [r.code for r in next(c for c in decision.checks if c.code is code).reasons]


# ---- booking time ----------------------------------------------------------------------------------


def test_a_booking_in_order_passes_without_waiting_for_faces_or_the_weighbridge() -> None:
    decision = precheck(make_request(), [])
    assert decision.result is CheckStatus.PASS, decision.checks
    assert [c.code for c in decision.checks] == [
        CheckCode.VEHICLE_DOCUMENTS,
        CheckCode.PERSONNEL,
        CheckCode.INSPECTION_VALIDITY,
        CheckCode.WAYBILL_MATCH,
        CheckCode.PERMITTED_MEDIA,
        CheckCode.BLACKLIST,
    ]
    assert decision.missing_inputs == ()


def test_a_tank_inspection_expiring_before_the_slot_ends_is_told_at_booking() -> None:
    expires = (SLOT_START + timedelta(hours=1)).astimezone(NOW.tzinfo).date() - timedelta(days=1)
    request = make_request(vehicle=make_vehicle(tank=make_tank(inspection_expires=expires)))
    decision = precheck(request, [])
    assert decision.result is CheckStatus.FAIL
    assert ReasonCode.TANK_INSPECTION_EXPIRED in reasons(decision, CheckCode.INSPECTION_VALIDITY)
    # Today it is still valid: the gate would let it in now, the slot is what matters.
    assert expires > TODAY


def test_a_waybill_naming_another_escort_is_told_at_booking() -> None:
    other = "11010519491231002X"
    decision = precheck(make_request(escort_id=other, escort=make_record(Role.ESCORT, id_number=other)), [])
    assert decision.result is CheckStatus.FAIL
    assert ReasonCode.WAYBILL_PERSONNEL_MISMATCH in reasons(decision, CheckCode.WAYBILL_MATCH)


def test_a_waybill_not_valid_when_the_slot_starts_is_told_at_booking() -> None:
    waybill = make_waybill(valid_from=SLOT_START + timedelta(hours=1), valid_to=SLOT_END + timedelta(hours=6))
    decision = precheck(make_request(waybill=waybill), [])
    assert ReasonCode.WAYBILL_NOT_YET_VALID in reasons(decision, CheckCode.WAYBILL_MATCH)


def test_a_blacklisted_driver_is_refused_at_booking_and_told_until_when_and_why() -> None:
    listing = Listing(
        id="L7", subject_kind=SubjectKind.PERSON, subject_id=DRIVER_ID, reason="园内超速三次", until=SLOT_END
    )
    decision = precheck(make_request(), [listing])
    assert decision.result is CheckStatus.FAIL
    blacklisted = next(c for c in decision.checks if c.code is CheckCode.BLACKLIST).reasons[0]
    assert blacklisted.code is ReasonCode.BLACKLISTED
    assert "园内超速三次" in blacklisted.message_zh and "3302" in blacklisted.message_zh
    assert DRIVER_ID not in blacklisted.message_zh, "ID numbers are masked on screens"


def test_a_listing_that_ended_before_the_slot_no_longer_counts() -> None:
    lifted = Listing(
        id="L8", subject_kind=SubjectKind.VEHICLE, subject_id=PLATE, reason="x", until=SLOT_START - timedelta(hours=1)
    )
    assert precheck(make_request(), [lifted]).result is CheckStatus.PASS


# ---- the entry gate ----------------------------------------------------------------------------------


def booked(state: BookingState, start_h: float, end_h: float) -> BookingSeen:
    return BookingSeen(
        id="B1", state=state, slot_start=NOW + timedelta(hours=start_h), slot_end=NOW + timedelta(hours=end_h)
    )


def test_an_approved_booking_for_now_admits_a_tanker_where_bookings_are_required() -> None:
    facts = BookingFacts(plate=PLATE, required=True, bookings=(booked(BookingState.APPROVED, -1, 2),))
    decision = evaluate_entry(make_facts(), [], facts, NOW)
    assert decision.result is CheckStatus.PASS
    assert admitting(facts, NOW) is not None


def test_a_booking_for_tomorrow_or_only_requested_does_not_admit_where_bookings_are_required() -> None:
    for booking in (booked(BookingState.APPROVED, 20, 24), booked(BookingState.REQUESTED, -1, 2)):
        facts = BookingFacts(plate=PLATE, required=True, bookings=(booking,))
        decision = evaluate_entry(make_facts(), [], facts, NOW)
        assert decision.result is CheckStatus.FAIL
        assert reasons(decision, CheckCode.BOOKING) == [ReasonCode.BOOKING_MISSING]


def test_a_blacklisted_carrier_is_refused_at_the_gate() -> None:
    listing = Listing(id="L9", subject_kind=SubjectKind.CARRIER, subject_id="C001", reason="违规装载", until=None)
    decision = evaluate_entry(make_facts(), [listing], BookingFacts(plate=PLATE), NOW)
    assert decision.result is CheckStatus.FAIL
    assert reasons(decision, CheckCode.BLACKLIST) == [ReasonCode.BLACKLISTED]


# ---- the exit gate ----------------------------------------------------------------------------------


def test_an_empty_tanker_leaving_after_unloading_passes() -> None:
    decision = evaluate_exit(make_exit(gross_kg=15050.0), NOW)
    assert decision.result is CheckStatus.PASS
    assert [c.code for c in decision.checks] == [
        CheckCode.VISIT_FOUND,
        CheckCode.LOAD_WITHIN_LIMITS,
        CheckCode.WAYBILL_CLOSED,
    ]


def test_a_tanker_leaving_loaded_as_its_waybill_says_passes_within_the_tolerance() -> None:
    # waybill 9000 kg; tolerance max(2 %, 200 kg) = 200 kg
    assert evaluate_exit(make_exit(gross_kg=15000.0 + 9000.0 + 150.0), NOW).result is CheckStatus.PASS


def test_an_overweight_tanker_is_held_at_the_exit() -> None:
    decision = evaluate_exit(make_exit(gross_kg=15000.0 + 26000.0), NOW)
    assert decision.result is CheckStatus.FAIL
    assert ReasonCode.OVER_RATED_LOAD in reasons(decision, CheckCode.LOAD_WITHIN_LIMITS)


def test_the_exit_waits_for_the_weighbridge_and_says_so() -> None:
    decision = evaluate_exit(make_exit(gross_kg=None), NOW)
    assert decision.result is CheckStatus.PENDING
    assert [m.value for m in decision.missing_inputs] == ["weight"]
