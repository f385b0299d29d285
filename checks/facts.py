"""Everything the checks know about one gate visit, gathered by the gateway before it calls them.

A field that is None has not arrived (or, for a registry record, was looked up and not found:
the input it was looked up by says which). The models are frozen and check their own
consistency, so a check never sees a person record for another ID number than the card read.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from registry.identifiers import canonical_plate
from registry.models import Carrier, EnrolmentFlag, PersonRecord, Role, Tank, Vehicle, Waybill

Distance = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class FactsModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlateRead(FactsModel):
    """What the ANPR camera read. The plate is kept as read (separators removed, upper case)."""

    plate: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)

    @field_validator("plate")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return canonical_plate(value)


class IdCardRead(FactsModel):
    """What the ID-card reader read from the chip."""

    id_number: str = Field(min_length=1)
    name: str

    @field_validator("id_number")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return value.strip().upper()


class FaceProblem(StrEnum):
    """Why the vision layer could not compare a face (the contract's reason codes)."""

    FACE_NOT_FOUND = "face_not_found"
    FACE_QUALITY = "face_quality"


class FaceEvidence(FactsModel):
    """The vision layer's comparison of the live face with the ID-card photo and the enrolled photo.

    Either ``problem`` is set (with ``problem_message`` saying what was wrong with which image), or
    the distance to the ID-card photo is. The distance to the enrolled photo is None when there is
    no enrolled photo. A distance at or below ``threshold`` is a match. ``liveness`` is None when
    the camera does not test it.
    """

    threshold: float = Field(gt=0, allow_inf_nan=False)
    distance_to_id_photo: Distance | None = None
    distance_to_enrolled: Distance | None = None
    # Between the ID-card photo and the enrolled photo themselves (None without an enrolled photo).
    distance_between_photos: Distance | None = None
    liveness: bool | None = None
    problem: FaceProblem | None = None
    problem_message: str = ""
    # Faces in the live capture; with more than one, the verified face clearly dominated the
    # others and ``dominant`` is true, ``dominant_by`` saying how: "size" (largest by a margin,
    # central) or "position" (in front of the camera, the others smaller and off to the side).
    faces: int = Field(default=1, ge=1)
    dominant: bool = False
    dominant_by: str | None = None
    # Frames of the live burst whose encodings were averaged (1: a single picture).
    frames: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _problem_or_distance(self) -> FaceEvidence:
        if self.problem is None and self.distance_to_id_photo is None:
            raise ValueError("face evidence needs a distance to the ID-card photo or a problem")
        return self


class PersonAtGate(FactsModel):
    """One role at the gate: the ID card presented, its registry record, and the face evidence.

    ``enrolment_flags`` are the record's import flags (``no_usable_photo``: the enrolled photo
    holds no usable face, so there is no enrolled-photo distance and the ID-card photo decides).
    """

    id_card: IdCardRead | None = None
    record: PersonRecord | None = None
    face: FaceEvidence | None = None
    enrolment_flags: tuple[EnrolmentFlag, ...] = ()

    @model_validator(mode="after")
    def _record_is_the_card_holder(self) -> PersonAtGate:
        if self.record is not None and (self.id_card is None or self.id_card.id_number != self.record.id_number):
            raise ValueError("a person record must be the one looked up by the ID card read")
        if self.enrolment_flags and self.record is None:
            raise ValueError("enrolment flags belong to a person record")
        return self


class OpenAlert(FactsModel):
    """An alert that is firing or acknowledged (not resolved) on one of the vehicle's devices."""

    alert_id: str
    device_id: str
    metric: str
    value: float | None = None
    started_at: AwareDatetime


class GpsTracker(FactsModel):
    """The vehicle's GPS tracker and when it last reported (None: never)."""

    device_id: str
    last_report_at: AwareDatetime | None = None


class VehicleStatusFacts(FactsModel):
    """The vehicle's monitoring state: its open critical alerts and its GPS tracker, if it has one."""

    open_critical_alerts: tuple[OpenAlert, ...] = ()
    gps_tracker: GpsTracker | None = None


class GateFacts(FactsModel):
    """The facts of one gate visit.

    ``vehicle`` is the registry record for ``plate`` (None: not registered), ``carrier`` the record
    for the vehicle's carrier (None: not registered). ``waybill`` is the record for ``waybill_no``
    (None: not found). ``gross_kg`` is the weighbridge reading; ``vehicle_status`` is None until the
    gateway has looked it up.
    """

    plate: PlateRead | None = None
    vehicle: Vehicle | None = None
    carrier: Carrier | None = None
    driver: PersonAtGate = PersonAtGate()
    escort: PersonAtGate = PersonAtGate()
    waybill_no: str | None = None
    waybill: Waybill | None = None
    gross_kg: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    vehicle_status: VehicleStatusFacts | None = None

    @model_validator(mode="after")
    def _records_match_their_keys(self) -> GateFacts:
        if self.vehicle is not None and (self.plate is None or self.plate.plate != self.vehicle.plate):
            raise ValueError("a vehicle record must be the one looked up by the plate read")
        if self.carrier is not None and (self.vehicle is None or self.vehicle.carrier_id != self.carrier.id):
            raise ValueError("a carrier record must be the vehicle's carrier")
        if self.waybill is not None and self.waybill.waybill_no != self.waybill_no:
            raise ValueError("a waybill record must be the one looked up by the waybill number scanned")
        return self

    @property
    def tank(self) -> Tank | None:
        return None if self.vehicle is None else self.vehicle.tank

    def person(self, role: Role) -> PersonAtGate:
        return self.driver if role is Role.DRIVER else self.escort


class MissingInput(StrEnum):
    """An input of the gate visit that has not arrived yet."""

    PLATE = "plate"
    DRIVER_ID_CARD = "driver_id_card"
    DRIVER_FACE = "driver_face"
    ESCORT_ID_CARD = "escort_id_card"
    ESCORT_FACE = "escort_face"
    WAYBILL = "waybill"
    WEIGHT = "weight"
    VEHICLE_STATUS = "vehicle_status"


# What the kiosk asks for each missing input: (Chinese, English).
MISSING_INPUT_PROMPTS: dict[MissingInput, tuple[str, str]] = {
    MissingInput.PLATE: ("请将车辆停在车牌识别区内", "Stop the vehicle inside the plate camera zone"),
    MissingInput.DRIVER_ID_CARD: ("请驾驶员刷身份证", "Driver: place your ID card on the reader"),
    MissingInput.DRIVER_FACE: ("请驾驶员正对人脸摄像头", "Driver: look at the face camera"),
    MissingInput.ESCORT_ID_CARD: ("请押运员刷身份证", "Escort: place your ID card on the reader"),
    MissingInput.ESCORT_FACE: ("请押运员正对人脸摄像头", "Escort: look at the face camera"),
    MissingInput.WAYBILL: ("请扫描电子运单二维码", "Scan the electronic waybill QR code"),
    MissingInput.WEIGHT: ("请将车辆停在地磅上", "Stop on the weighbridge"),
    MissingInput.VEHICLE_STATUS: ("正在查询车辆监控状态", "Looking up the vehicle's monitoring status"),
}

ID_CARD_INPUT = {Role.DRIVER: MissingInput.DRIVER_ID_CARD, Role.ESCORT: MissingInput.ESCORT_ID_CARD}
FACE_INPUT = {Role.DRIVER: MissingInput.DRIVER_FACE, Role.ESCORT: MissingInput.ESCORT_FACE}


def missing_inputs(facts: GateFacts) -> tuple[MissingInput, ...]:
    """The inputs of this visit that have not arrived yet, in the order the kiosk asks for them."""
    arrived = {
        MissingInput.PLATE: facts.plate is not None,
        MissingInput.DRIVER_ID_CARD: facts.driver.id_card is not None,
        MissingInput.DRIVER_FACE: facts.driver.face is not None,
        MissingInput.ESCORT_ID_CARD: facts.escort.id_card is not None,
        MissingInput.ESCORT_FACE: facts.escort.face is not None,
        MissingInput.WAYBILL: facts.waybill_no is not None,
        MissingInput.WEIGHT: facts.gross_kg is not None,
        MissingInput.VEHICLE_STATUS: facts.vehicle_status is not None,
    }
    return tuple(item for item in MissingInput if not arrived[item])
