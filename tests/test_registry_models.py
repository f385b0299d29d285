"""The registry import format: identifiers, models, and row-by-row validation of a whole file."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from registry import (
    Cargo,
    Carrier,
    Person,
    Reference,
    RegistryFile,
    Role,
    RowError,
    Section,
    Severity,
    Tank,
    Vehicle,
    Waybill,
    references_to_resolve,
    resolve_references,
    validate_registry,
)
from registry.identifiers import id_check_char, normalize_id_number, normalize_plate, normalize_un_number

# Real check characters, computed by hand with the GB 11643-1999 weights:
# 3302031980010112 3 → weighted sum mod 11 = 10 → "1"; 1101051949123100 2 → mod 11 = 2 → "X".
DRIVER_ID = "330203198001011231"  # the contract's example
ESCORT_ID = "11010519491231002X"  # the standard's own example
OTHER_ID = "440304199003070018"


# ---- identifiers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first17", "check_char"),
    [("33020319800101123", "1"), ("11010519491231002", "X"), ("44030419900307001", "8"), ("33010219850615004", "0")],
)
def test_id_check_character_follows_iso_7064_mod_11_2(first17: str, check_char: str) -> None:
    assert id_check_char(first17) == check_char


def test_id_number_with_lower_case_x_is_stored_upper_case() -> None:
    assert normalize_id_number(" 11010519491231002x ") == ESCORT_ID


def test_id_number_with_a_mistyped_check_digit_says_what_it_should_be() -> None:
    with pytest.raises(ValueError, match="check character is 2 but should be 1"):
        normalize_id_number("330203198001011232")


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("33020319800101123", "18 characters"),
        ("3302031980010112A1", "17 digits"),
        ("000203198001011231", "province"),
        ("330203198002301231", "not a calendar date"),
        ("330203180001011231", "not plausible"),
    ],
)
def test_id_number_that_cannot_be_real_is_refused(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalize_id_number(bad)


def test_id_number_born_after_today_is_refused_when_today_is_known() -> None:
    born_2030 = "330203203001011231"
    valid_check = born_2030[:17] + id_check_char(born_2030[:17])
    assert normalize_id_number(valid_check) == valid_check
    with pytest.raises(ValueError, match="not plausible"):
        normalize_id_number(valid_check, today=date(2026, 5, 10))


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("浙B12345", "浙B12345"),
        ("浙B·12345", "浙B12345"),
        ("浙 b 1234x", "浙B1234X"),
        ("浙BD12345", "浙BD12345"),  # new-energy small vehicle
        ("浙BDA1234", "浙BDA1234"),
        ("浙B12345F", "浙B12345F"),  # new-energy large vehicle
        ("浙B1234挂", "浙B1234挂"),  # trailer
        ("京A0001挂", "京A0001挂"),
    ],
)
def test_chinese_plates_are_accepted_in_canonical_form(written: str, canonical: str) -> None:
    assert normalize_plate(written) == canonical


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("浙B1234", "not a Chinese plate"),
        ("浙B123456", "not a Chinese plate"),
        ("浙BI2345", "not a Chinese plate"),
        ("浙B12345挂", "not a Chinese plate"),
        ("浙12345", "not a Chinese plate"),
        ("AB12345", "province"),
        ("", "empty"),
    ],
)
def test_things_that_are_not_chinese_plates_are_refused(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalize_plate(bad)


@pytest.mark.parametrize(
    ("written", "canonical"), [("UN1077", "UN1077"), ("un 1978", "UN1978"), (" UN1203 ", "UN1203")]
)
def test_un_numbers_are_accepted_in_canonical_form(written: str, canonical: str) -> None:
    assert normalize_un_number(written) == canonical


@pytest.mark.parametrize("bad", ["1077", "UN107", "UN10777", "UN-1077", "UN0000"])
def test_malformed_un_numbers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="UN"):
        normalize_un_number(bad)


# ---- models ----------------------------------------------------------------------------------


def carrier_row(**overrides: Any) -> dict[str, Any]:
    row = {"id": "C001", "name": "宁波危货运输有限公司", "permit_no": "甬字330200001", "permit_expires": "2027-06-30"}
    return row | overrides


def vehicle_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "plate": "浙B12345",
        "carrier_id": "C001",
        "vehicle_license_expires": "2027-01-01",
        "transport_permit_no": "330200123456",
        "transport_permit_expires": "2027-01-01",
        "inspection_expires": "2027-01-01",
        "rated_load_kg": 25000,
        "tare_kg": 15000,
        "tank": {"id": "TK001", "capacity_m3": 52.6, "inspection_expires": "2027-01-01", "permitted_un": ["UN1077"]},
    }
    return row | overrides


def person_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "id_number": DRIVER_ID,
        "name": "张伟",
        "roles": ["driver"],
        "qualification_no": "Q001",
        "qualification_class": "driver",
        "qualification_expires": "2027-01-01",
        "photo": "photos/zhang_wei.jpg",
    }
    return row | overrides


def waybill_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "waybill_no": "YD001",
        "plate": "浙B12345",
        "driver_id": DRIVER_ID,
        "escort_id": ESCORT_ID,
        "cargo": {"un": "UN1077", "name": "丙烯", "class": "2.1", "quantity_kg": 24000},
        "valid_from": "2026-05-10T00:00:00+08:00",
        "valid_to": "2026-05-11T00:00:00+08:00",
    }
    return row | overrides


def good_file() -> dict[str, Any]:
    escort = person_row(id_number=ESCORT_ID, name="李娜", roles=["escort"], qualification_class="escort")
    return {
        "carriers": [carrier_row()],
        "vehicles": [vehicle_row()],
        "personnel": [person_row(), escort],
        "waybills": [waybill_row()],
    }


def test_contract_example_rows_become_typed_records() -> None:
    vehicle = Vehicle.model_validate(vehicle_row(plate="浙B·12345"))
    assert vehicle.plate == "浙B12345"
    assert vehicle.tank.inspection_expires == date(2027, 1, 1)
    waybill = Waybill.model_validate(waybill_row(escort_id="11010519491231002x"))
    assert waybill.escort_id == ESCORT_ID
    assert waybill.cargo.hazard_class == "2.1"
    assert waybill.valid_to.utcoffset() is not None
    assert waybill.model_dump(by_alias=True, mode="json")["cargo"]["class"] == "2.1"


def test_cargo_class_may_be_written_as_a_number() -> None:
    assert Cargo.model_validate({"un": "UN1203", "name": "汽油", "class": 3, "quantity_kg": 20000}).hazard_class == "3"


@pytest.mark.parametrize(
    ("row", "field", "why"),
    [
        (vehicle_row(rated_load_kg=0), "rated_load_kg", "greater than 0"),
        (vehicle_row(tare_kg=-1), "tare_kg", "greater than or equal to 0"),
        (vehicle_row(rated_load_kg="25000"), "rated_load_kg", "number"),
        (vehicle_row(inspection_expires="2027/01/01"), "inspection_expires", "2027-01-01"),
        (vehicle_row(inspection_expires="2027-01-01T00:00:00"), "inspection_expires", "2027-01-01"),
        (vehicle_row(inspection_expires="2027-02-30"), "inspection_expires", "calendar date"),
        (
            vehicle_row(tank={"id": "T", "capacity_m3": 1, "inspection_expires": "2027-01-01", "permitted_un": []}),
            "tank.permitted_un",
            "at least 1",
        ),
    ],
)
def test_bad_vehicle_fields_are_refused_with_their_name(row: dict[str, Any], field: str, why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Vehicle.model_validate(row)
    [error] = caught.value.errors()
    assert ".".join(str(part) for part in error["loc"]) == field
    assert why in error["msg"]


def test_waybill_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError, match=r"valid_to .* must be after valid_from"):
        Waybill.model_validate(waybill_row(valid_to="2026-05-09T00:00:00+08:00"))


def test_waybill_times_without_timezone_are_refused() -> None:
    with pytest.raises(ValidationError, match="no timezone"):
        Waybill.model_validate(waybill_row(valid_from="2026-05-10T00:00:00"))


def test_waybill_with_the_driver_as_escort_is_refused() -> None:
    with pytest.raises(ValidationError, match="escort must be another person"):
        Waybill.model_validate(waybill_row(escort_id=DRIVER_ID))


def test_waybill_quantity_must_be_positive() -> None:
    row = waybill_row(cargo={"un": "UN1077", "name": "丙烯", "class": "2.1", "quantity_kg": 0})
    with pytest.raises(ValidationError, match="greater than 0"):
        Waybill.model_validate(row)


@pytest.mark.parametrize(
    "overrides",
    [{"roles": ["loader"]}, {"roles": []}, {"roles": ["driver", "driver"]}, {"qualification_class": "chemist"}],
)
def test_roles_and_qualification_class_are_driver_or_escort(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Person.model_validate(person_row(**overrides))


def test_person_may_hold_both_roles() -> None:
    person = Person.model_validate(person_row(roles=["driver", "escort"]))
    assert person.roles == (Role.DRIVER, Role.ESCORT)


def test_misspelt_field_is_an_error_not_silently_ignored() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Carrier.model_validate(carrier_row(permit_expiry="2027-01-01"))


def test_tank_repeating_a_permitted_un_keeps_it_once() -> None:
    tank = Tank.model_validate(vehicle_row()["tank"] | {"permitted_un": ["UN1077", "un1077", "UN1978"]})
    assert tank.permitted_un == ("UN1077", "UN1978")


# ---- validate_registry -----------------------------------------------------------------------


def test_a_clean_file_validates_with_no_problems() -> None:
    registry, problems = validate_registry(good_file(), today=date(2026, 5, 10))
    assert problems == []
    assert isinstance(registry, RegistryFile)
    assert [len(registry.carriers), len(registry.vehicles), len(registry.personnel), len(registry.waybills)] == [
        1,
        1,
        2,
        1,
    ]


def test_every_bad_row_is_reported_at_once_and_good_rows_are_kept() -> None:
    data = good_file()
    data["vehicles"].append(vehicle_row(plate="浙B1234", tank=vehicle_row()["tank"] | {"id": "TK002"}))
    data["vehicles"].append(vehicle_row(plate="浙B22222", rated_load_kg=-5, tare_kg="heavy", tank=None))
    data["personnel"].append(person_row(id_number="330203198001011232", name="王五"))
    data["waybills"].append(waybill_row(waybill_no="YD002", cargo={"un": "1077", "name": "丙烯", "class": "2.1"}))
    registry, problems = validate_registry(data)
    errors = [(p.section, p.index, p.key, p.field) for p in problems if p.severity is Severity.ERROR]
    assert errors == [
        ("vehicles", 1, "浙B1234", "plate"),
        ("vehicles", 2, "浙B22222", "rated_load_kg"),
        ("vehicles", 2, "浙B22222", "tare_kg"),
        ("vehicles", 2, "浙B22222", "tank"),
        ("personnel", 2, "330203198001011232", "id_number"),
        ("waybills", 1, "YD002", "cargo.un"),
        ("waybills", 1, "YD002", "cargo.quantity_kg"),
    ]
    assert [v.plate for v in registry.vehicles] == ["浙B12345"]
    assert len(registry.personnel) == 2 and len(registry.waybills) == 1


def test_row_errors_read_as_one_line_each() -> None:
    data = good_file()
    data["personnel"][0]["id_number"] = "330203198001011232"
    _, problems = validate_registry(data)
    assert str(problems[0]) == (
        "error: personnel[0] (330203198001011232) id_number: "
        "ID number check character is 2 but should be 1: a digit was probably mistyped"
    )


def test_duplicate_plate_is_reported_on_the_second_row() -> None:
    data = good_file()
    data["vehicles"].append(vehicle_row(plate="浙B·12345", tank=vehicle_row()["tank"] | {"id": "TK002"}))
    registry, problems = validate_registry(data)
    assert [(p.index, p.field, p.message) for p in problems] == [(1, "plate", "duplicate of vehicles[0]")]
    assert len(registry.vehicles) == 1


def test_one_tank_on_two_vehicles_is_refused() -> None:
    data = good_file()
    data["vehicles"].append(vehicle_row(plate="浙B54321"))
    registry, problems = validate_registry(data)
    assert [(p.section, p.index, p.field) for p in problems] == [("vehicles", 1, "tank.id")]
    assert [v.plate for v in registry.vehicles] == ["浙B12345"]


def test_vehicle_of_a_carrier_row_with_errors_is_refused_and_so_is_its_waybill() -> None:
    data = good_file()
    data["carriers"][0]["permit_expires"] = "next year"
    registry, problems = validate_registry(data)
    assert [(p.section, p.index, p.field, p.severity) for p in problems] == [
        ("carriers", 0, "permit_expires", Severity.ERROR),
        ("vehicles", 0, "carrier_id", Severity.ERROR),
        ("waybills", 0, "plate", Severity.ERROR),
    ]
    assert "carriers[0], which has errors" in problems[1].message
    assert registry.carriers == () and registry.vehicles == () and registry.waybills == ()


def test_references_outside_the_file_are_warnings_for_the_importer_to_resolve() -> None:
    data = {"vehicles": [vehicle_row(carrier_id="C009")], "waybills": [waybill_row(escort_id=OTHER_ID)]}
    data["personnel"] = [person_row()]
    registry, problems = validate_registry(data)
    assert all(p.severity is Severity.WARNING for p in problems)
    assert [(p.section, p.field, p.unresolved) for p in problems] == [
        ("vehicles", "carrier_id", Reference(section=Section.CARRIERS, key="C009")),
        ("waybills", "escort_id", Reference(section=Section.PERSONNEL, key=OTHER_ID)),
    ]
    assert "not in this file" in problems[0].message
    assert len(registry.vehicles) == 1 and len(registry.waybills) == 1
    assert references_to_resolve(problems) == {Section.CARRIERS: {"C009"}, Section.PERSONNEL: {OTHER_ID}}


def test_resolving_references_drops_those_in_the_database_and_fails_the_rest() -> None:
    data = {"vehicles": [vehicle_row(carrier_id="C009")], "waybills": [waybill_row(escort_id=OTHER_ID)]}
    data["personnel"] = [person_row()]
    _, problems = validate_registry(data)
    resolved = resolve_references(problems, {Section.CARRIERS: {"C009"}})
    assert [(p.section, p.field, p.severity) for p in resolved] == [("waybills", "escort_id", Severity.ERROR)]
    assert "neither in this file nor in the registry" in resolved[0].message


def test_import_warns_about_waybills_the_gate_would_refuse() -> None:
    data = good_file()
    data["waybills"][0]["cargo"] = {"un": "UN1203", "name": "汽油", "class": "3", "quantity_kg": 26000}
    data["personnel"][1]["qualification_class"] = "driver"
    _, problems = validate_registry(data)
    warnings = [(p.section, p.field) for p in problems if p.severity is Severity.WARNING]
    assert warnings == [
        ("personnel", "roles"),
        ("waybills", "cargo.un"),
        ("waybills", "cargo.quantity_kg"),
        ("waybills", "escort_id"),
    ]
    assert not [p for p in problems if p.severity is Severity.ERROR]


def test_birth_date_after_the_import_day_is_refused() -> None:
    born_2030 = "330203203001011231"[:17]
    data = good_file()
    data["personnel"][0]["id_number"] = born_2030 + id_check_char(born_2030)
    _, problems = validate_registry(data, today=date(2026, 5, 10))
    assert (problems[0].section, problems[0].field) == ("personnel", "id_number")


@pytest.mark.parametrize(
    ("data", "section", "index", "message"),
    [
        ([], "", None, "JSON object"),
        ({"trucks": []}, "trucks", None, "unknown section"),
        ({"vehicles": {"plate": "浙B12345"}}, "vehicles", None, "list of rows"),
        ({"carriers": ["C001"]}, "carriers", 0, "JSON object"),
    ],
)
def test_file_shape_problems_are_reported_not_raised(
    data: object, section: str, index: int | None, message: str
) -> None:
    registry, problems = validate_registry(data)
    [problem] = problems
    assert (problem.section, problem.index) == (section, index)
    assert message in problem.message
    assert registry == RegistryFile()


def test_missing_required_field_says_so() -> None:
    row = carrier_row()
    del row["permit_no"]
    _, problems = validate_registry({"carriers": [row]})
    assert [(p.field, p.message) for p in problems] == [("permit_no", "required field is missing")]


def test_validation_does_not_change_the_input() -> None:
    data = good_file()
    before = copy.deepcopy(data)
    validate_registry(data)
    assert data == before


def test_row_error_is_plain_data() -> None:
    error = RowError(section="vehicles", index=0, key="浙B12345", field="plate", message="m")
    assert error.model_dump(mode="json")["severity"] == "error"
    assert Waybill.model_validate(waybill_row()).valid_from == datetime(2026, 5, 9, 16, 0, tzinfo=UTC)
