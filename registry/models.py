"""Pydantic models of the registry import format (docs: CONTRACT.md, "Registry import format").

Every model is frozen and refuses unknown fields, so a misspelt optional field is an error
rather than silently ignored. Identifiers are stored in canonical form (see ``identifiers``).

Validation context (``model_validate(..., context={"today": date})``): when ``today`` is given,
an ID number whose birth date lies after it is refused. Nothing here reads the clock.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from registry.identifiers import normalize_id_number, normalize_plate, normalize_un_number

_ISO_DATE_LENGTH = len("2027-01-01")

# Hazard classes and divisions of GB 6944-2012 (the UN Model Regulations' classes).
HAZARD_CLASS = re.compile(r"1\.[1-6]|2\.[1-3]|3|4\.[1-3]|5\.[12]|6\.[12]|7|8|9")


class Role(StrEnum):
    """What a person does on a hazardous-goods vehicle; also the class of their qualification."""

    DRIVER = "driver"
    ESCORT = "escort"


def _error(kind: str, reason: str) -> PydanticCustomError:
    # The reason goes through the context so braces in it are never read as a template.
    return PydanticCustomError(kind, "{reason}", {"reason": reason})


def _today(info: ValidationInfo) -> date | None:
    context = info.context
    if isinstance(context, dict):
        today = context.get("today")
        if isinstance(today, date):
            return today
    return None


def _check_id_number(value: str, info: ValidationInfo) -> str:
    try:
        return normalize_id_number(value, today=_today(info))
    except ValueError as exc:
        raise _error("id_number", str(exc)) from None


def _check_plate(value: str) -> str:
    try:
        return normalize_plate(value)
    except ValueError as exc:
        raise _error("plate", str(exc)) from None


def _check_un_number(value: str) -> str:
    try:
        return normalize_un_number(value)
    except ValueError as exc:
        raise _error("un_number", str(exc)) from None


def _parse_iso_date(value: Any) -> Any:
    if isinstance(value, datetime):
        raise _error("date_format", "expected a date like 2027-01-01, not a date and time")
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) != _ISO_DATE_LENGTH or value[4] != "-" or value[7] != "-":
        raise _error("date_format", f"expected a date like 2027-01-01, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _error("date_format", f"{value} is not a calendar date") from None


def _parse_timestamp(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _error(
                "timestamp_format", f"expected an RFC 3339 time like 2027-01-01T08:00:00+08:00, got {value!r}"
            ) from None
    if not isinstance(value, datetime):
        raise _error("timestamp_format", "expected an RFC 3339 time like 2027-01-01T08:00:00+08:00")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _error("timestamp_timezone", f"{value.isoformat()} has no timezone; add +08:00 or Z")
    return value


def _hazard_class(value: Any) -> Any:
    # A JSON number (3, 2.1) is accepted for the class and read as its text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and not HAZARD_CLASS.fullmatch(value.strip()):
        raise _error("hazard_class", f"hazard class {value!r} is not a GB 6944 class or division such as 2.1, 3 or 8")
    return value.strip() if isinstance(value, str) else value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
IdNumber = Annotated[str, AfterValidator(_check_id_number)]
Plate = Annotated[str, AfterValidator(_check_plate)]
UnNumber = Annotated[str, AfterValidator(_check_un_number)]
ExpiryDate = Annotated[date, BeforeValidator(_parse_iso_date)]
Timestamp = Annotated[datetime, BeforeValidator(_parse_timestamp)]
# Weights are JSON numbers: strings, booleans, NaN and infinities are refused.
PositiveKg = Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)]
NonNegativeKg = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]


class RegistryModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Carrier(RegistryModel):
    """A transport company (承运人) and its hazardous-goods road transport business permit."""

    id: Text
    name: Text
    permit_no: Text
    permit_expires: ExpiryDate


class Tank(RegistryModel):
    """The tank (罐体) and the media (UN numbers) its inspection certificate allows it to carry."""

    id: Text
    capacity_m3: Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)]
    inspection_expires: ExpiryDate
    permitted_un: Annotated[tuple[UnNumber, ...], Field(min_length=1)]

    @field_validator("permitted_un")
    @classmethod
    def _drop_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))


class Vehicle(RegistryModel):
    """A registered vehicle: its licence (行驶证), road transport permit (道路运输证) and tank."""

    plate: Plate
    carrier_id: Text
    vehicle_license_expires: ExpiryDate
    transport_permit_no: Text
    transport_permit_expires: ExpiryDate
    inspection_expires: ExpiryDate
    rated_load_kg: PositiveKg
    tare_kg: NonNegativeKg
    tank: Tank


class PersonRecord(RegistryModel):
    """A driver or escort as the gate checks them: identity and qualification (从业资格证)."""

    id_number: IdNumber
    name: Text
    roles: Annotated[tuple[Role, ...], Field(min_length=1)]
    qualification_no: Text
    qualification_class: Role
    qualification_expires: ExpiryDate

    @field_validator("roles")
    @classmethod
    def _no_repeated_roles(cls, value: tuple[Role, ...]) -> tuple[Role, ...]:
        if len(set(value)) != len(value):
            raise _error("roles_repeated", "each role may be listed once")
        return value


class Person(PersonRecord):
    """A personnel row of the import file: the record plus the enrolled photo.

    ``photo`` is a path relative to the import file or base64 image data; the importer loads it.
    """

    photo: Text


class Cargo(RegistryModel):
    model_config = ConfigDict(populate_by_name=True)

    un: UnNumber
    name: Text
    hazard_class: Annotated[str, BeforeValidator(_hazard_class), Field(alias="class")]
    quantity_kg: PositiveKg


class Waybill(RegistryModel):
    """An electronic waybill (电子运单): which vehicle and crew carry which cargo, and when."""

    waybill_no: Text
    plate: Plate
    driver_id: IdNumber
    escort_id: IdNumber
    cargo: Cargo
    valid_from: Timestamp
    valid_to: Timestamp

    @field_validator("escort_id")
    @classmethod
    def _escort_is_not_driver(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("driver_id"):
            raise _error("escort_is_driver", "escort_id is the driver's ID number; the escort must be another person")
        return value

    @field_validator("valid_to")
    @classmethod
    def _ends_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("valid_from")
        if isinstance(start, datetime) and value <= start:
            raise _error("validity_order", f"valid_to {value.isoformat()} must be after valid_from {start.isoformat()}")
        return value


class FlagCode(StrEnum):
    """Why a row was imported but not as usual (``EnrolmentFlag``)."""

    # The enrolment photo holds no usable face: the gate compares the live face with the ID-card
    # photo alone and, where the site's policy says so, asks an officer (docs/gate.md).
    NO_USABLE_PHOTO = "no_usable_photo"


class EnrolmentFlag(RegistryModel):
    """A person imported with a limitation the gate must know about, and the reason for it.

    ``reason`` and ``issue`` are the face engine's codes (``face_not_found``, or ``face_quality``
    with ``multiple_faces``, ``too_small``...); ``message`` its words.
    """

    code: FlagCode
    reason: str
    issue: str | None = None
    message: str


class RegistryFile(RegistryModel):
    """A whole import file. ``validate_registry`` builds it from the rows that are valid."""

    carriers: tuple[Carrier, ...] = ()
    vehicles: tuple[Vehicle, ...] = ()
    personnel: tuple[Person, ...] = ()
    waybills: tuple[Waybill, ...] = ()
