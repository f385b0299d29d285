"""The gate checks (五必查 + vehicle status), told as the stories of tankers arriving at the gate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from checks import (
    CHECKS,
    DEFAULT_POLICY,
    MISSING_INPUT_PROMPTS,
    CheckCode,
    CheckPolicy,
    CheckResult,
    CheckStatus,
    FaceEvidence,
    FaceProblem,
    GateFacts,
    GpsTracker,
    IdCardRead,
    MissingInput,
    NoEnrolledPhoto,
    OpenAlert,
    PersonAtGate,
    PlateRead,
    Reason,
    ReasonCode,
    VehicleStatusFacts,
    blacklist,
    booking,
    decide,
    evaluate,
    exit_gate,
    inspection_validity,
    missing_inputs,
    permitted_media,
    personnel,
    run_all,
    vehicle_documents,
    vehicle_status,
    waybill_match,
)
from checks.reasons import MESSAGES
from checks.stay_facts import BookingFacts, ExitFacts, Listing, StayAtExit, Subjects
from registry.models import Cargo, Carrier, EnrolmentFlag, FlagCode, PersonRecord, Role, Tank, Vehicle, Waybill

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 5, 10, 9, 30, tzinfo=CST)
TODAY = NOW.date()
FAR = date(2027, 6, 30)  # far enough that nothing warns about expiring soon
FAR_DT = datetime(2027, 6, 30, tzinfo=CST)

PLATE = "浙B12345"
DRIVER_ID = "330203198001011231"
ESCORT_ID = "330102198506150040"

# What the registry import gives a person whose enrolment photo has no usable face.
NO_USABLE_PHOTO = EnrolmentFlag(
    code=FlagCode.NO_USABLE_PHOTO, reason="face_quality", issue="too_small", message="face too small: 36 px"
)

CONTRACT_REASON_CODES = {
    "vehicle_unknown",
    "vehicle_license_expired",
    "transport_permit_expired",
    "driver_missing",
    "escort_missing",
    "qualification_expired",
    "qualification_wrong_class",
    "id_card_not_registered",
    "face_mismatch",
    "face_not_found",
    "face_quality",
    "tank_inspection_expired",
    "vehicle_inspection_expired",
    "waybill_not_found",
    "waybill_expired",
    "waybill_vehicle_mismatch",
    "waybill_personnel_mismatch",
    "over_rated_load",
    "medium_not_permitted",
}


# ---- factories -------------------------------------------------------------------------------


def make_tank(**overrides: Any) -> Tank:
    fields: dict[str, Any] = {
        "id": "TK001",
        "capacity_m3": 52.6,
        "inspection_expires": FAR,
        "permitted_un": ("UN1077", "UN1978"),
    }
    return Tank(**(fields | overrides))


def make_vehicle(**overrides: Any) -> Vehicle:
    fields: dict[str, Any] = {
        "plate": PLATE,
        "carrier_id": "C001",
        "vehicle_license_expires": FAR,
        "transport_permit_no": "浙交运管宁字330200123456号",
        "transport_permit_expires": FAR,
        "inspection_expires": FAR,
        "rated_load_kg": 25000,
        "tare_kg": 15000,
        "tank": make_tank(),
    }
    return Vehicle(**(fields | overrides))


def make_carrier(**overrides: Any) -> Carrier:
    fields: dict[str, Any] = {
        "id": "C001",
        "name": "宁波危货运输有限公司",
        "permit_no": "浙交运管许可甬字330200001号",
        "permit_expires": FAR,
    }
    return Carrier(**(fields | overrides))


def make_record(role: Role = Role.DRIVER, **overrides: Any) -> PersonRecord:
    fields: dict[str, Any] = {
        "id_number": DRIVER_ID if role is Role.DRIVER else ESCORT_ID,
        "name": "张伟" if role is Role.DRIVER else "李娜",
        "roles": (role,),
        "qualification_no": f"Q-{role.value}-001",
        "qualification_class": role,
        "qualification_expires": FAR,
    }
    return PersonRecord(**(fields | overrides))


def make_face(**overrides: Any) -> FaceEvidence:
    fields: dict[str, Any] = {
        "threshold": 0.6,
        "distance_to_id_photo": 0.35,
        "distance_to_enrolled": 0.30,
        "liveness": True,
    }
    return FaceEvidence(**(fields | overrides))


def make_person(role: Role = Role.DRIVER, **overrides: Any) -> PersonAtGate:
    """A registered, qualified person of ``role`` at the gate, with a matching face."""
    record = overrides.pop("record", make_record(role))
    card = overrides.pop(
        "id_card",
        IdCardRead(id_number=record.id_number, name=record.name) if record is not None else None,
    )
    fields: dict[str, Any] = {"id_card": card, "record": record, "face": make_face()}
    return PersonAtGate(**(fields | overrides))


def make_waybill(**overrides: Any) -> Waybill:
    fields: dict[str, Any] = {
        "waybill_no": "YD20260510001",
        "plate": PLATE,
        "driver_id": DRIVER_ID,
        "escort_id": ESCORT_ID,
        "cargo": Cargo(un="UN1077", name="丙烯", hazard_class="2.1", quantity_kg=9000),
        "valid_from": NOW - timedelta(hours=6),
        "valid_to": NOW + timedelta(hours=18),
    }
    return Waybill(**(fields | overrides))


def make_status(**overrides: Any) -> VehicleStatusFacts:
    fields: dict[str, Any] = {
        "open_critical_alerts": (),
        "gps_tracker": GpsTracker(device_id="gps-zb12345", last_report_at=NOW - timedelta(seconds=30)),
    }
    return VehicleStatusFacts(**(fields | overrides))


def make_exit(*, closed: bool = True, **overrides: Any) -> ExitFacts:
    """A tanker at the exit gate after a stay whose loading was confirmed, leaving empty."""
    stay = StayAtExit(
        visit_id="V1",
        entered_at=NOW - timedelta(hours=2),
        waybill_no="YD20260510001",
        waybill_closed_at=NOW - timedelta(minutes=30) if closed else None,
    )
    fields: dict[str, Any] = {
        "plate": PlateRead(plate=PLATE, confidence=0.98),
        "vehicle": make_vehicle(),
        "visit": stay,
        "waybill": make_waybill(),
        "gross_kg": 15100.0,
    }
    return ExitFacts(**(fields | overrides))


def make_facts(**overrides: Any) -> GateFacts:
    """A registered tanker with a valid crew and waybill, arriving loaded with 9 t of propylene.

    ``vehicle=None``/``waybill=None`` mean "looked up, not found"; to model an input that has not
    arrived, override the input itself (``plate=None``, ``waybill_no=None``, ``gross_kg=None``).
    """
    vehicle = overrides.pop("vehicle", make_vehicle())
    waybill = overrides.pop("waybill", make_waybill())
    fields: dict[str, Any] = {
        "plate": PlateRead(plate=vehicle.plate if vehicle is not None else PLATE, confidence=0.98),
        "vehicle": vehicle,
        "carrier": make_carrier(id=vehicle.carrier_id) if vehicle is not None else None,
        "driver": make_person(Role.DRIVER),
        "escort": make_person(Role.ESCORT),
        "waybill_no": waybill.waybill_no if waybill is not None else "YD-UNKNOWN",
        "waybill": waybill,
        "gross_kg": 24000.0,
        "vehicle_status": make_status(),
    }
    return GateFacts(**(fields | overrides))


def codes(result: CheckResult) -> list[ReasonCode]:
    return [reason.code for reason in result.reasons]


def only_reason(result: CheckResult) -> Reason:
    assert len(result.reasons) == 1, result.reasons
    return result.reasons[0]


# ---- one scenario per reason code ------------------------------------------------------------


# A story of the stay's checks, which take other facts than GateFacts: the check run on its facts.
StayStory = Callable[[datetime, CheckPolicy], CheckResult]


@dataclass(frozen=True)
class Scenario:
    story: str
    facts: GateFacts | StayStory
    check: CheckCode
    code: ReasonCode
    status: CheckStatus


def _scenarios() -> list[Scenario]:
    s = Scenario
    R, F, P, V, OK = ReasonCode, CheckStatus.FAIL, CheckStatus.PENDING, CheckStatus.REVIEW, CheckStatus.PASS
    C = CheckCode
    yesterday = TODAY - timedelta(days=1)
    return [
        s("unregistered_tanker_is_refused", make_facts(vehicle=None), C.VEHICLE_DOCUMENTS, R.VEHICLE_UNKNOWN, F),
        s(
            "expired_vehicle_licence_is_refused",
            make_facts(vehicle=make_vehicle(vehicle_license_expires=yesterday)),
            C.VEHICLE_DOCUMENTS,
            R.VEHICLE_LICENSE_EXPIRED,
            F,
        ),
        s(
            "expired_road_transport_permit_is_refused",
            make_facts(vehicle=make_vehicle(transport_permit_expires=yesterday)),
            C.VEHICLE_DOCUMENTS,
            R.TRANSPORT_PERMIT_EXPIRED,
            F,
        ),
        s("driver_not_yet_at_card_reader_waits", make_facts(driver=PersonAtGate()), C.PERSONNEL, R.DRIVER_MISSING, P),
        s("tanker_without_escort_waits_for_one", make_facts(escort=PersonAtGate()), C.PERSONNEL, R.ESCORT_MISSING, P),
        s(
            "driver_with_expired_qualification_is_refused",
            make_facts(driver=make_person(record=make_record(qualification_expires=yesterday))),
            C.PERSONNEL,
            R.QUALIFICATION_EXPIRED,
            F,
        ),
        s(
            "escort_holding_only_a_driver_qualification_is_refused",
            make_facts(
                escort=make_person(Role.ESCORT, record=make_record(Role.ESCORT, qualification_class=Role.DRIVER))
            ),
            C.PERSONNEL,
            R.QUALIFICATION_WRONG_CLASS,
            F,
        ),
        s(
            "driver_not_registered_with_the_park_is_refused",
            make_facts(driver=make_person(record=None, id_card=IdCardRead(id_number=DRIVER_ID, name="张伟"))),
            C.PERSONNEL,
            R.ID_CARD_NOT_REGISTERED,
            F,
        ),
        s(
            "someone_else_presenting_the_drivers_card_is_refused",
            make_facts(driver=make_person(face=make_face(distance_to_id_photo=0.8, distance_to_enrolled=0.8))),
            C.PERSONNEL,
            R.FACE_MISMATCH,
            F,
        ),
        s(
            "driver_whose_face_the_camera_cannot_find_is_asked_to_retake",
            make_facts(driver=make_person(face=FaceEvidence(threshold=0.6, problem=FaceProblem.FACE_NOT_FOUND))),
            C.PERSONNEL,
            R.FACE_NOT_FOUND,
            F,
        ),
        s(
            "blurred_face_photo_is_asked_to_retake",
            make_facts(
                escort=make_person(
                    Role.ESCORT,
                    face=FaceEvidence(threshold=0.6, problem=FaceProblem.FACE_QUALITY, problem_message="too dark"),
                )
            ),
            C.PERSONNEL,
            R.FACE_QUALITY,
            F,
        ),
        s(
            "tanker_with_expired_tank_inspection_is_refused",
            make_facts(vehicle=make_vehicle(tank=make_tank(inspection_expires=yesterday))),
            C.INSPECTION_VALIDITY,
            R.TANK_INSPECTION_EXPIRED,
            F,
        ),
        s(
            "tanker_with_expired_vehicle_inspection_is_refused",
            make_facts(vehicle=make_vehicle(inspection_expires=yesterday)),
            C.INSPECTION_VALIDITY,
            R.VEHICLE_INSPECTION_EXPIRED,
            F,
        ),
        s("unknown_waybill_is_refused", make_facts(waybill=None), C.WAYBILL_MATCH, R.WAYBILL_NOT_FOUND, F),
        s(
            "expired_waybill_is_refused",
            make_facts(waybill=make_waybill(valid_from=NOW - timedelta(days=2), valid_to=NOW - timedelta(days=1))),
            C.WAYBILL_MATCH,
            R.WAYBILL_EXPIRED,
            F,
        ),
        s(
            "waybill_of_another_vehicle_is_refused",
            make_facts(waybill=make_waybill(plate="浙B54321")),
            C.WAYBILL_MATCH,
            R.WAYBILL_VEHICLE_MISMATCH,
            F,
        ),
        s(
            "escort_not_named_on_the_waybill_is_refused",
            make_facts(waybill=make_waybill(escort_id="11010519491231002X")),
            C.WAYBILL_MATCH,
            R.WAYBILL_PERSONNEL_MISMATCH,
            F,
        ),
        s(
            "tanker_weighing_over_its_rated_load_is_refused",
            make_facts(gross_kg=41000.0),
            C.PERMITTED_MEDIA,
            R.OVER_RATED_LOAD,
            F,
        ),
        s(
            "tank_not_approved_for_the_cargo_is_refused",
            make_facts(vehicle=make_vehicle(tank=make_tank(permitted_un=("UN1978",)))),
            C.PERMITTED_MEDIA,
            R.MEDIUM_NOT_PERMITTED,
            F,
        ),
        s(
            "tanker_not_yet_in_front_of_camera_waits",
            make_facts(plate=None, vehicle=None),
            C.VEHICLE_DOCUMENTS,
            R.PLATE_MISSING,
            P,
        ),
        s(
            "driver_not_yet_photographed_waits",
            make_facts(driver=make_person(face=None)),
            C.PERSONNEL,
            R.FACE_MISSING,
            P,
        ),
        s(
            "waybill_not_yet_scanned_waits",
            make_facts(waybill_no=None, waybill=None),
            C.WAYBILL_MATCH,
            R.WAYBILL_MISSING,
            P,
        ),
        s("tanker_not_yet_weighed_waits", make_facts(gross_kg=None), C.PERMITTED_MEDIA, R.WEIGHT_MISSING, P),
        s(
            "monitoring_status_not_yet_looked_up_waits",
            make_facts(vehicle_status=None),
            C.VEHICLE_STATUS,
            R.VEHICLE_STATUS_MISSING,
            P,
        ),
        s(
            "vehicle_of_unregistered_carrier_is_refused",
            make_facts(carrier=None),
            C.VEHICLE_DOCUMENTS,
            R.CARRIER_UNKNOWN,
            F,
        ),
        s(
            "carrier_with_expired_transport_licence_is_refused",
            make_facts(carrier=make_carrier(permit_expires=yesterday)),
            C.VEHICLE_DOCUMENTS,
            R.CARRIER_PERMIT_EXPIRED,
            F,
        ),
        s(
            "driver_acting_as_his_own_escort_is_refused",
            make_facts(escort=make_person(Role.ESCORT, record=make_record(Role.ESCORT, id_number=DRIVER_ID))),
            C.PERSONNEL,
            R.ESCORT_IS_DRIVER,
            F,
        ),
        s(
            "photo_held_up_to_the_camera_fails_liveness",
            make_facts(driver=make_person(face=make_face(liveness=False))),
            C.PERSONNEL,
            R.LIVENESS_FAILED,
            F,
        ),
        s(
            "tanker_arriving_before_its_waybill_starts_is_refused",
            make_facts(waybill=make_waybill(valid_from=NOW + timedelta(hours=2), valid_to=NOW + timedelta(hours=20))),
            C.WAYBILL_MATCH,
            R.WAYBILL_NOT_YET_VALID,
            F,
        ),
        s(
            "tanker_with_a_firing_pressure_alarm_is_refused",
            make_facts(
                vehicle_status=make_status(
                    open_critical_alerts=(
                        OpenAlert(
                            alert_id="A1",
                            device_id="ts-001",
                            metric="tank_pressure_kpa",
                            value=1850.0,
                            started_at=NOW - timedelta(minutes=12),
                        ),
                    )
                )
            ),
            C.VEHICLE_STATUS,
            R.CRITICAL_ALERT_OPEN,
            F,
        ),
        s(
            "tanker_whose_gps_went_silent_is_refused",
            make_facts(
                vehicle_status=make_status(
                    gps_tracker=GpsTracker(device_id="g1", last_report_at=NOW - timedelta(hours=3))
                )
            ),
            C.VEHICLE_STATUS,
            R.GPS_SILENT,
            F,
        ),
        s(
            "blurry_plate_read_goes_to_an_officer",
            make_facts(plate=PlateRead(plate=PLATE, confidence=0.55)),
            C.VEHICLE_DOCUMENTS,
            R.PLATE_LOW_CONFIDENCE,
            V,
        ),
        s(
            "face_just_over_the_threshold_goes_to_an_officer",
            make_facts(driver=make_person(face=make_face(distance_to_id_photo=0.63))),
            C.PERSONNEL,
            R.FACE_BORDERLINE,
            V,
        ),
        s(
            "person_without_enrolled_photo_goes_to_an_officer",
            make_facts(driver=make_person(face=make_face(distance_to_enrolled=None))),
            C.PERSONNEL,
            R.ENROLLED_PHOTO_MISSING,
            V,
        ),
        s(
            "person_whose_enrolment_photo_was_unusable_goes_to_an_officer",
            make_facts(
                driver=make_person(face=make_face(distance_to_enrolled=None), enrolment_flags=(NO_USABLE_PHOTO,))
            ),
            C.PERSONNEL,
            R.ENROLLED_PHOTO_UNUSABLE,
            V,
        ),
        s(
            "id_card_name_differing_from_registry_goes_to_an_officer",
            make_facts(driver=make_person(id_card=IdCardRead(id_number=DRIVER_ID, name="张玮"))),
            C.PERSONNEL,
            R.ID_CARD_NAME_MISMATCH,
            V,
        ),
        s(
            "tanker_heavier_than_its_waybill_says_goes_to_an_officer",
            make_facts(gross_kg=15000.0 + 9000.0 + 1500.0),
            C.PERMITTED_MEDIA,
            R.WEIGHT_ABOVE_WAYBILL,
            V,
        ),
        s(
            "weighbridge_reading_below_tare_goes_to_an_officer",
            make_facts(gross_kg=12000.0),
            C.PERMITTED_MEDIA,
            R.WEIGHT_BELOW_TARE,
            V,
        ),
        s(
            "tank_inspection_expiring_next_week_passes_with_a_reminder",
            make_facts(vehicle=make_vehicle(tank=make_tank(inspection_expires=TODAY + timedelta(days=7)))),
            C.INSPECTION_VALIDITY,
            R.DOCUMENT_EXPIRING_SOON,
            OK,
        ),
        # The stay (v1.1): the blacklist and bookings at the entry gate, and the exit gate.
        s(
            "blacklisted_driver_is_refused",
            lambda now, policy: blacklist.check(
                Subjects.at_gate(make_facts()),
                [Listing(id="L1", subject_kind="person", subject_id=DRIVER_ID, reason="两次超速", until=FAR_DT)],
                now,
                policy,
            ),
            C.BLACKLIST,
            R.BLACKLISTED,
            F,
        ),
        s(
            "tanker_without_a_booking_where_bookings_are_required_is_refused",
            lambda now, policy: booking.check(BookingFacts(plate=PLATE, required=True), now, policy),
            C.BOOKING,
            R.BOOKING_MISSING,
            F,
        ),
        s(
            "tanker_at_the_exit_without_a_stay_inside_is_held",
            lambda now, policy: exit_gate.visit_found(make_exit(visit=None, waybill=None), now, policy),
            C.VISIT_FOUND,
            R.VISIT_NOT_FOUND,
            F,
        ),
        s(
            "tanker_leaving_with_more_than_its_waybill_is_held",
            lambda now, policy: exit_gate.load_within_limits(make_exit(gross_kg=15000.0 + 9000.0 + 800.0), now, policy),
            C.LOAD_WITHIN_LIMITS,
            R.LOAD_ABOVE_WAYBILL,
            F,
        ),
        s(
            "tanker_leaving_before_its_waybill_is_closed_is_held",
            lambda now, policy: exit_gate.waybill_closed(make_exit(closed=False), now, policy),
            C.WAYBILL_CLOSED,
            R.WAYBILL_OPEN,
            F,
        ),
    ]


SCENARIOS = _scenarios()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.story for scenario in SCENARIOS])
def test_gate_story(scenario: Scenario) -> None:
    if isinstance(scenario.facts, GateFacts):
        result = CHECKS[scenario.check](scenario.facts, NOW, DEFAULT_POLICY)
    else:
        result = scenario.facts(NOW, DEFAULT_POLICY)
    assert result.code is scenario.check
    assert scenario.code in codes(result), result.reasons
    assert result.status is scenario.status, result.reasons
    reason = next(reason for reason in result.reasons if reason.code is scenario.code)
    assert reason.status is scenario.status
    assert reason.message_zh and reason.message
    assert "{" not in reason.message_zh + reason.message  # every placeholder was filled


def test_every_reason_code_has_a_gate_story() -> None:
    assert {scenario.code for scenario in SCENARIOS} == set(ReasonCode)


def test_the_contract_reason_codes_are_all_defined() -> None:
    defined = {code.value for code in ReasonCode}
    assert CONTRACT_REASON_CODES - defined == set()


def test_every_reason_code_has_chinese_and_english_messages() -> None:
    assert set(MESSAGES) == set(ReasonCode)
    for zh, en in MESSAGES.values():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh)
        assert en.isascii()


# ---- the pass case and the decision ----------------------------------------------------------


def test_registered_tanker_with_everything_in_order_is_let_in() -> None:
    decision = evaluate(make_facts(), NOW)
    assert decision.result is CheckStatus.PASS
    assert [check.code for check in decision.checks] == list(CHECKS)
    assert all(check.status is CheckStatus.PASS and not check.reasons for check in decision.checks)
    assert decision.missing_inputs == ()


def test_run_all_gives_the_five_must_checks_in_contract_order_then_vehicle_status() -> None:
    results = run_all(make_facts(), NOW)
    assert [result.code.value for result in results] == [
        "vehicle_documents",
        "personnel",
        "inspection_validity",
        "waybill_match",
        "permitted_media",
        "vehicle_status",
    ]


def _result(code: CheckCode, status: CheckStatus, *missing: MissingInput) -> CheckResult:
    return CheckResult(code=code, status=status, missing_inputs=missing)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["pass", "fail", "pending", "review"], "fail"),
        (["pass", "pending", "review"], "pending"),
        (["review", "pass"], "review"),
        (["pass", "pass"], "pass"),
    ],
)
def test_decide_fail_outranks_pending_outranks_review_outranks_pass(statuses: list[str], expected: str) -> None:
    results = [_result(code, CheckStatus(status)) for code, status in zip(CheckCode, statuses, strict=False)]
    assert decide(results).result is CheckStatus(expected)


def test_decide_without_any_result_refuses_rather_than_passing() -> None:
    with pytest.raises(ValueError, match="at least one"):
        decide([])


def test_decision_lists_each_missing_input_once_in_kiosk_order() -> None:
    results = [
        _result(CheckCode.WAYBILL_MATCH, CheckStatus.PENDING, MissingInput.WAYBILL, MissingInput.DRIVER_ID_CARD),
        _result(CheckCode.PERSONNEL, CheckStatus.PENDING, MissingInput.DRIVER_ID_CARD, MissingInput.PLATE),
    ]
    decision = decide(results)
    assert decision.missing_inputs == (MissingInput.PLATE, MissingInput.DRIVER_ID_CARD, MissingInput.WAYBILL)


def test_tanker_just_arrived_waits_for_every_input_and_kiosk_says_what_is_missing() -> None:
    facts = GateFacts(plate=PlateRead(plate=PLATE, confidence=0.97), vehicle=make_vehicle(), carrier=make_carrier())
    decision = evaluate(facts, NOW)
    assert decision.result is CheckStatus.PENDING
    expected = tuple(item for item in MissingInput if item is not MissingInput.PLATE)
    assert decision.missing_inputs == expected
    assert missing_inputs(facts) == expected
    assert set(MISSING_INPUT_PROMPTS) == set(MissingInput)


def test_a_known_failure_decides_even_while_inputs_are_still_missing() -> None:
    facts = make_facts(vehicle=make_vehicle(tank=make_tank(inspection_expires=TODAY - timedelta(days=1))))
    facts = facts.model_copy(update={"escort": PersonAtGate()})
    decision = evaluate(facts, NOW)
    assert decision.result is CheckStatus.FAIL
    assert decision.missing_inputs == (MissingInput.ESCORT_ID_CARD, MissingInput.ESCORT_FACE)


def test_low_confidence_read_alone_sends_the_tanker_to_review() -> None:
    decision = evaluate(make_facts(plate=PlateRead(plate=PLATE, confidence=0.5)), NOW)
    assert decision.result is CheckStatus.REVIEW


def test_naive_now_is_refused_because_expiry_needs_the_parks_calendar() -> None:
    with pytest.raises(ValueError, match="timezone"):
        run_all(make_facts(), datetime(2026, 5, 10, 9, 30))  # naive on purpose


# ---- expiry boundaries -----------------------------------------------------------------------


def test_transport_permit_expiring_today_is_still_valid_today() -> None:
    result = vehicle_documents.check(make_facts(vehicle=make_vehicle(transport_permit_expires=TODAY)), NOW)
    assert result.status is CheckStatus.PASS
    assert codes(result) == [ReasonCode.DOCUMENT_EXPIRING_SOON]


def test_transport_permit_that_expired_yesterday_is_refused() -> None:
    expired = TODAY - timedelta(days=1)
    result = vehicle_documents.check(make_facts(vehicle=make_vehicle(transport_permit_expires=expired)), NOW)
    assert result.status is CheckStatus.FAIL
    assert expired.isoformat() in only_reason(result).message_zh
    assert result.evidence["transport_permit_expires"] == expired.isoformat()


def test_expiry_day_ends_at_midnight_park_time_not_utc() -> None:
    # 00:30 in the park on 11 May is still 10 May in UTC: a permit ending on 10 May has expired.
    just_after_midnight = datetime(2026, 5, 10, 16, 30, tzinfo=UTC)
    facts = make_facts(vehicle=make_vehicle(transport_permit_expires=date(2026, 5, 10)))
    result = vehicle_documents.check(facts, just_after_midnight)
    assert codes(result) == [ReasonCode.TRANSPORT_PERMIT_EXPIRED]


def test_qualification_expiring_at_the_end_of_the_warning_window_gets_a_reminder_not_a_failure() -> None:
    policy = CheckPolicy(expiry_warning_days=30)
    at_edge = make_record(qualification_expires=TODAY + timedelta(days=30))
    beyond = make_record(qualification_expires=TODAY + timedelta(days=31))
    edge_result = personnel.check(make_facts(driver=make_person(record=at_edge)), NOW, policy)
    beyond_result = personnel.check(make_facts(driver=make_person(record=beyond)), NOW, policy)
    assert edge_result.status is CheckStatus.PASS
    assert codes(edge_result) == [ReasonCode.DOCUMENT_EXPIRING_SOON]
    assert "30" in only_reason(edge_result).message_zh
    assert codes(beyond_result) == []


def test_tanker_with_expired_tank_inspection_fails_inspection_validity_and_names_the_tank() -> None:
    facts = make_facts(vehicle=make_vehicle(tank=make_tank(id="TK-9", inspection_expires=date(2026, 4, 1))))
    result = inspection_validity.check(facts, NOW)
    assert result.status is CheckStatus.FAIL
    reason = only_reason(result)
    assert "TK-9" in reason.message_zh and "2026-04-01" in reason.message
    assert result.evidence["tank_inspection_expires"] == "2026-04-01"


# ---- vehicle documents -----------------------------------------------------------------------


def test_unregistered_plate_read_with_low_confidence_goes_to_review_as_a_possible_misread() -> None:
    facts = make_facts(vehicle=None, plate=PlateRead(plate="浙B12346", confidence=0.6))
    result = vehicle_documents.check(facts, NOW)
    assert result.status is CheckStatus.REVIEW
    assert codes(result) == [ReasonCode.PLATE_LOW_CONFIDENCE, ReasonCode.VEHICLE_UNKNOWN]


def test_vehicle_checks_wait_for_the_plate_before_anything_else() -> None:
    facts = make_facts(plate=None, vehicle=None)
    for check in (vehicle_documents.check, inspection_validity.check):
        result = check(facts, NOW)
        assert result.status is CheckStatus.PENDING
        assert result.missing_inputs == (MissingInput.PLATE,)


def test_facts_refuse_a_vehicle_record_for_another_plate() -> None:
    with pytest.raises(ValidationError, match="plate read"):
        GateFacts(plate=PlateRead(plate="浙B99999", confidence=0.99), vehicle=make_vehicle())


def test_plate_read_with_separators_matches_the_registered_plate() -> None:
    facts = make_facts(plate=PlateRead(plate="浙b·12345", confidence=0.99))
    assert vehicle_documents.check(facts, NOW).status is CheckStatus.PASS


# ---- personnel -------------------------------------------------------------------------------


def test_face_exactly_at_the_threshold_matches() -> None:
    face = make_face(distance_to_id_photo=0.6, distance_to_enrolled=0.6)
    assert personnel.check(make_facts(driver=make_person(face=face)), NOW).status is CheckStatus.PASS


def test_face_matching_the_id_card_but_not_the_enrolled_photo_is_refused() -> None:
    face = make_face(distance_to_id_photo=0.3, distance_to_enrolled=0.9)
    result = personnel.check(make_facts(driver=make_person(face=face)), NOW)
    assert result.status is CheckStatus.FAIL
    reason = only_reason(result)
    assert reason.code is ReasonCode.FACE_MISMATCH and "备案照片" in reason.message_zh
    driver: Any = result.evidence["driver"]
    assert driver["face"]["distance_to_enrolled"] == 0.9


def test_flagged_person_is_checked_against_the_id_card_photo_and_reviewed_by_default() -> None:
    driver = make_person(face=make_face(distance_to_enrolled=None), enrolment_flags=(NO_USABLE_PHOTO,))
    result = personnel.check(make_facts(driver=driver), NOW)
    assert result.status is CheckStatus.REVIEW
    reason = only_reason(result)
    assert reason.code is ReasonCode.ENROLLED_PHOTO_UNUSABLE
    assert "face_quality/too_small" in reason.message and "officer" in reason.message
    evidence: Any = result.evidence["driver"]
    assert evidence["face"]["enrolled_photo"]["fallback"] == "id_card_photo"
    assert evidence["face"]["enrolled_photo"]["flags"][0]["code"] == "no_usable_photo"


def test_flagged_person_passes_on_the_id_card_photo_where_the_site_trusts_it() -> None:
    policy = CheckPolicy(no_enrolled_photo=NoEnrolledPhoto.ID_CARD_PHOTO)
    driver = make_person(face=make_face(distance_to_enrolled=None), enrolment_flags=(NO_USABLE_PHOTO,))
    result = personnel.check(make_facts(driver=driver), NOW, policy)
    assert result.status is CheckStatus.PASS
    notice = only_reason(result)
    assert notice.code is ReasonCode.ENROLLED_PHOTO_UNUSABLE and notice.status is CheckStatus.PASS
    assert "re" in notice.message and "enrol a new photo" in notice.message


def test_flagged_person_whose_face_does_not_match_the_id_card_is_still_refused() -> None:
    policy = CheckPolicy(no_enrolled_photo=NoEnrolledPhoto.ID_CARD_PHOTO)
    face = make_face(distance_to_id_photo=0.85, distance_to_enrolled=None)
    driver = make_person(face=face, enrolment_flags=(NO_USABLE_PHOTO,))
    for each in (DEFAULT_POLICY, policy):
        result = personnel.check(make_facts(driver=driver), NOW, each)
        assert result.status is CheckStatus.FAIL
        assert ReasonCode.FACE_MISMATCH in codes(result)


def test_enrolment_flags_belong_to_a_registered_person() -> None:
    with pytest.raises(ValidationError, match="enrolment flags"):
        PersonAtGate(enrolment_flags=(NO_USABLE_PHOTO,))


def test_driver_with_an_escort_qualification_is_refused_as_driver() -> None:
    record = make_record(Role.DRIVER, qualification_class=Role.ESCORT)
    result = personnel.check(make_facts(driver=make_person(record=record)), NOW)
    reason = only_reason(result)
    assert reason.code is ReasonCode.QUALIFICATION_WRONG_CLASS
    assert "押运员从业资格证" in reason.message_zh and "驾驶员" in reason.message_zh


def test_face_not_found_tells_the_driver_what_to_do() -> None:
    face = FaceEvidence(threshold=0.6, problem=FaceProblem.FACE_NOT_FOUND, problem_message="no face in frame")
    reason = only_reason(personnel.check(make_facts(driver=make_person(face=face)), NOW))
    assert "正对摄像头" in reason.message_zh and "no face in frame" in reason.message


def test_card_reader_id_shown_on_the_kiosk_is_masked() -> None:
    person = make_person(record=None, id_card=IdCardRead(id_number=DRIVER_ID, name="王五"))
    reason = only_reason(personnel.check(make_facts(driver=person), NOW))
    assert DRIVER_ID not in reason.message_zh and "3302" in reason.message_zh and "1231" in reason.message_zh


def test_person_record_must_belong_to_the_card_read() -> None:
    with pytest.raises(ValidationError, match="ID card read"):
        PersonAtGate(id_card=IdCardRead(id_number=ESCORT_ID, name="李娜"), record=make_record(Role.DRIVER))


def test_face_evidence_without_distance_or_problem_is_refused() -> None:
    with pytest.raises(ValidationError, match="distance"):
        FaceEvidence(threshold=0.6)


def test_liveness_not_measured_does_not_block() -> None:
    face = make_face(liveness=None)
    assert personnel.check(make_facts(driver=make_person(face=face)), NOW).status is CheckStatus.PASS


def test_personnel_waits_for_both_people_and_their_faces() -> None:
    result = personnel.check(make_facts(driver=PersonAtGate(), escort=PersonAtGate()), NOW)
    assert result.status is CheckStatus.PENDING
    assert result.missing_inputs == (
        MissingInput.DRIVER_ID_CARD,
        MissingInput.DRIVER_FACE,
        MissingInput.ESCORT_ID_CARD,
        MissingInput.ESCORT_FACE,
    )


# ---- waybill ---------------------------------------------------------------------------------


def test_waybill_is_valid_up_to_and_including_its_end() -> None:
    at_end = make_waybill(valid_from=NOW - timedelta(hours=8), valid_to=NOW)
    at_start = make_waybill(valid_from=NOW, valid_to=NOW + timedelta(hours=8))
    assert waybill_match.check(make_facts(waybill=at_end), NOW).status is CheckStatus.PASS
    assert waybill_match.check(make_facts(waybill=at_start), NOW).status is CheckStatus.PASS
    one_second_late = waybill_match.check(make_facts(waybill=at_end), NOW + timedelta(seconds=1))
    assert codes(one_second_late) == [ReasonCode.WAYBILL_EXPIRED]


def test_expired_waybill_message_shows_park_local_time() -> None:
    waybill = make_waybill(
        valid_from=datetime(2026, 5, 9, 0, 0, tzinfo=UTC),
        valid_to=datetime(2026, 5, 9, 12, 0, tzinfo=UTC),
    )
    reason = only_reason(waybill_match.check(make_facts(waybill=waybill), NOW))
    assert "2026-05-09 20:00" in reason.message_zh


def test_waybill_scanned_before_the_crew_presented_cards_waits_for_them() -> None:
    result = waybill_match.check(make_facts(driver=PersonAtGate(), escort=PersonAtGate()), NOW)
    assert result.status is CheckStatus.PENDING
    assert result.missing_inputs == (MissingInput.DRIVER_ID_CARD, MissingInput.ESCORT_ID_CARD)


def test_waybill_for_another_plate_with_doubtful_read_goes_to_review() -> None:
    facts = make_facts(vehicle=None, plate=PlateRead(plate="浙B12845", confidence=0.5))
    result = waybill_match.check(facts, NOW)
    assert result.status is CheckStatus.REVIEW
    assert codes(result) == [ReasonCode.WAYBILL_VEHICLE_MISMATCH]


def test_waybill_evidence_records_the_cargo() -> None:
    evidence = waybill_match.check(make_facts(), NOW).evidence
    assert evidence["cargo_un"] == "UN1077"
    assert evidence["waybill_driver_id"] == DRIVER_ID


# ---- permitted media and weight --------------------------------------------------------------


def test_net_load_exactly_at_rated_load_is_allowed() -> None:
    waybill = make_waybill(cargo=Cargo(un="UN1077", name="丙烯", hazard_class="2.1", quantity_kg=25000))
    result = permitted_media.check(make_facts(waybill=waybill, gross_kg=40000.0), NOW)
    assert result.status is CheckStatus.PASS
    assert result.evidence["net_kg"] == 25000.0


def test_waybill_quantity_over_rated_load_is_refused_even_before_weighing() -> None:
    waybill = make_waybill(cargo=Cargo(un="UN1077", name="丙烯", hazard_class="2.1", quantity_kg=26000))
    result = permitted_media.check(make_facts(waybill=waybill, gross_kg=None), NOW)
    assert result.status is CheckStatus.FAIL
    assert codes(result) == [ReasonCode.WEIGHT_MISSING, ReasonCode.OVER_RATED_LOAD]
    assert "运单货物" in result.reasons[1].message_zh


def test_empty_tanker_arriving_to_load_passes_the_weight_check() -> None:
    assert permitted_media.check(make_facts(gross_kg=15080.0), NOW).status is CheckStatus.PASS


def test_net_load_within_tolerance_of_the_waybill_passes() -> None:
    # 9 000 kg declared; 2 % is 180 kg, under the 200 kg floor, so up to 9 200 kg passes.
    assert permitted_media.check(make_facts(gross_kg=15000.0 + 9200.0), NOW).status is CheckStatus.PASS
    assert permitted_media.check(make_facts(gross_kg=15000.0 + 9201.0), NOW).status is CheckStatus.REVIEW


def test_unregistered_vehicle_cannot_have_its_media_checked() -> None:
    result = permitted_media.check(make_facts(vehicle=None), NOW)
    assert result.status is CheckStatus.FAIL
    assert codes(result) == [ReasonCode.VEHICLE_UNKNOWN]


# ---- vehicle status --------------------------------------------------------------------------


def test_vehicle_without_gps_tracker_is_not_held_for_gps() -> None:
    result = vehicle_status.check(make_facts(vehicle_status=VehicleStatusFacts()), NOW)
    assert result.status is CheckStatus.PASS


def test_gps_silent_exactly_the_allowed_time_still_passes() -> None:
    policy = CheckPolicy(gps_max_silence_s=600)
    tracker = GpsTracker(device_id="g1", last_report_at=NOW - timedelta(seconds=600))
    facts = make_facts(vehicle_status=make_status(gps_tracker=tracker))
    assert vehicle_status.check(facts, NOW, policy).status is CheckStatus.PASS
    later = vehicle_status.check(facts, NOW + timedelta(seconds=1), policy)
    assert codes(later) == [ReasonCode.GPS_SILENT]


def test_gps_tracker_that_never_reported_is_refused() -> None:
    facts = make_facts(vehicle_status=make_status(gps_tracker=GpsTracker(device_id="g1")))
    reason = only_reason(vehicle_status.check(facts, NOW))
    assert reason.code is ReasonCode.GPS_SILENT and "从未上报" in reason.message_zh


def test_each_open_critical_alert_is_its_own_reason() -> None:
    alerts = tuple(
        OpenAlert(alert_id=f"A{i}", device_id=f"d{i}", metric="gas_lel_pct", value=40.0, started_at=NOW)
        for i in range(2)
    )
    result = vehicle_status.check(make_facts(vehicle_status=make_status(open_critical_alerts=alerts)), NOW)
    assert codes(result) == [ReasonCode.CRITICAL_ALERT_OPEN] * 2
    assert len(result.evidence["open_critical_alerts"]) == 2  # type: ignore[arg-type]


# ---- results are data ------------------------------------------------------------------------


def test_check_results_serialise_to_json_for_the_decision_message() -> None:
    decision = evaluate(make_facts(vehicle=make_vehicle(inspection_expires=TODAY - timedelta(days=3))), NOW)
    payload = decision.model_dump(mode="json")
    check = next(c for c in payload["checks"] if c["code"] == "inspection_validity")
    assert check["status"] == "fail"
    assert check["reasons"][0]["code"] == "vehicle_inspection_expired"


def test_facts_are_frozen() -> None:
    facts = make_facts()
    with pytest.raises(ValidationError):
        facts.gross_kg = 1.0  # type: ignore[misc]  # the point: it is read-only
