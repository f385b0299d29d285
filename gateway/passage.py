"""One tanker's passage through a gate: the inputs gathered so far, and how events change them.

Pure: no database, no MQTT. The pipeline feeds typed events in (parsed once at the boundary,
gateway/payloads.py), asks which face comparisons are due, gives their results back, and builds
the checks' facts from a passage plus registry records. (A *stay* in the park, from the waiting
lot to the exit, is a visit: see stays/.)
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from checks import CheckStatus, FaceEvidence, GateFacts, IdCardRead, PersonAtGate, PlateRead, VehicleStatusFacts
from gateway.payloads import FaceEvent, GateEvent, IdCardEvent, PlateEvent, WaybillEvent, WeightEvent
from registry.identifiers import canonical_plate
from registry.models import Carrier, EnrolmentFlag, PersonRecord, Role, Vehicle, Waybill

ROLES = (Role.DRIVER, Role.ESCORT)


class Direction(StrEnum):
    """Which way a gate lets tankers through (``hazgate gates set --direction``)."""

    ENTRY = "entry"
    EXIT = "exit"
    BOTH = "both"


def decode_b64(data: str | None) -> bytes | None:
    """Image bytes from the event's base64 text; None when absent or not base64 (the face check
    then says the image was unusable, rather than the event being refused)."""
    if data is None:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class IdCardInput:
    event_id: str
    id_number: str
    name: str
    photo: bytes


@dataclass(frozen=True, slots=True)
class FaceInput:
    event_id: str
    image: bytes | None
    frames: tuple[bytes, ...]

    @property
    def usable(self) -> bool:
        return self.image is not None or bool(self.frames)


@dataclass(frozen=True, slots=True)
class EventSeen:
    """An event of the passage, for the record (no image bytes)."""

    event_id: str
    type: str
    role: str | None
    ts: datetime


@dataclass
class Passage:
    site: str
    gate_id: str
    opened_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    # Entry or exit; at a gate that is both, known once the plate says whether the tanker is inside.
    direction: Direction | None = None
    plate: PlateRead | None = None
    id_cards: dict[Role, IdCardInput] = field(default_factory=dict)
    faces: dict[Role, FaceInput] = field(default_factory=dict)
    # Face comparisons done, by role, for the (card event, face event) pair they compared.
    face_evidence: dict[Role, tuple[tuple[str, str], FaceEvidence]] = field(default_factory=dict)
    waybill_no: str | None = None
    gross_kg: float | None = None
    events: list[EventSeen] = field(default_factory=list)
    last_event_at: float = 0.0  # time.time() the last input event reached the gateway
    updated_at: datetime | None = None
    decided_at: datetime | None = None
    timings: dict[str, float] = field(default_factory=dict)  # face work, ms
    # The decided result the tanker's stay last followed, and the stay (see stays/lifecycle.py).
    stay_result: CheckStatus | None = None
    alerted_result: CheckStatus | None = None  # the final result alert rules last heard of
    visit_id: uuid.UUID | None = None

    def apply(self, event: GateEvent, received_at: float, ts: datetime) -> bool:
        """Take one event in; False when it changes nothing (a duplicate)."""
        event_id = str(event.event_id)
        if any(seen.event_id == event_id for seen in self.events):
            return False
        role = event.role if isinstance(event, IdCardEvent | FaceEvent) else None
        self.events.append(EventSeen(event_id, event.type, role, ts))
        self.last_event_at = received_at
        self.updated_at = ts
        match event:
            case PlateEvent():
                read = PlateRead(plate=event.plate, confidence=event.confidence)
                # Several reads of one plate: keep the surest.
                if self.plate is None or read.confidence >= self.plate.confidence:
                    self.plate = read
            case IdCardEvent():
                photo = decode_b64(event.photo_b64) or b""
                self.id_cards[Role(event.role)] = IdCardInput(event_id, event.id_number, event.name, photo)
            case FaceEvent():
                frames = tuple(f for f in (decode_b64(x) for x in event.frames_b64 or ()) if f)
                self.faces[Role(event.role)] = FaceInput(event_id, decode_b64(event.image_b64), frames)
            case WeightEvent():
                self.gross_kg = float(event.gross_kg)
            case WaybillEvent():
                self.waybill_no = event.waybill_no.strip()
        return True

    def images(self, event: GateEvent) -> list[tuple[str, str | None, bytes]]:
        """The biometric images an event brought, as (kind, role, bytes), to keep apart."""
        match event:
            case IdCardEvent():
                card = self.id_cards.get(Role(event.role))
                if card is not None and card.event_id == str(event.event_id) and card.photo:
                    return [("id_card", event.role, card.photo)]
            case FaceEvent():
                face = self.faces.get(Role(event.role))
                if face is not None and face.event_id == str(event.event_id) and face.image:
                    return [("face", event.role, face.image)]
            case _:
                pass
        return []

    def faces_due(self) -> list[Role]:
        """Roles whose card and face are both here and not yet compared as they are now."""
        due = []
        for role in ROLES:
            card, face = self.id_cards.get(role), self.faces.get(role)
            if card is None or face is None:
                continue
            done = self.face_evidence.get(role)
            if done is None or done[0] != (card.event_id, face.event_id):
                due.append(role)
        return due

    def current_evidence(self, role: Role) -> FaceEvidence | None:
        card, face, done = self.id_cards.get(role), self.faces.get(role), self.face_evidence.get(role)
        if card is None or face is None or done is None or done[0] != (card.event_id, face.event_id):
            return None
        return done[1]

    def inputs_summary(self) -> dict[str, object]:
        """What arrived, for the record (no image bytes)."""
        return {
            "plate": self.plate.model_dump() if self.plate else None,
            "id_cards": {r.value: {"id_number": c.id_number, "name": c.name} for r, c in self.id_cards.items()},
            "faces": {r.value: {"frames": len(f.frames), "event_id": f.event_id} for r, f in self.faces.items()},
            "waybill_no": self.waybill_no,
            "gross_kg": self.gross_kg,
            "events": [
                {"event_id": e.event_id, "type": e.type, "role": e.role, "ts": e.ts.isoformat()} for e in self.events
            ],
        }

    def same_plate(self, plate: str) -> bool:
        return self.plate is not None and self.plate.plate == canonical_plate(plate)


@dataclass(frozen=True)
class Lookups:
    """Registry records the pipeline found for a passage's keys."""

    vehicle: Vehicle | None = None
    carrier: Carrier | None = None
    people: dict[str, PersonRecord] = field(default_factory=dict)  # by id number
    waybill: Waybill | None = None
    vehicle_status: VehicleStatusFacts | None = None
    # Import flags of the people found (no_usable_photo: no enrolled-photo comparison), by id number.
    enrolment_flags: dict[str, tuple[EnrolmentFlag, ...]] = field(default_factory=dict)


def build_facts(passage: Passage, found: Lookups) -> GateFacts:
    people = {}
    for role in ROLES:
        card = passage.id_cards.get(role)
        id_card = IdCardRead(id_number=card.id_number, name=card.name) if card else None
        record = found.people.get(id_card.id_number) if id_card else None
        flags = found.enrolment_flags.get(record.id_number, ()) if record else ()
        people[role] = PersonAtGate(
            id_card=id_card, record=record, face=passage.current_evidence(role), enrolment_flags=flags
        )
    plate = passage.plate
    vehicle = found.vehicle if plate and found.vehicle and found.vehicle.plate == plate.plate else None
    carrier = found.carrier if vehicle and found.carrier and found.carrier.id == vehicle.carrier_id else None
    waybill = found.waybill if found.waybill and found.waybill.waybill_no == passage.waybill_no else None
    return GateFacts(
        plate=plate,
        vehicle=vehicle,
        carrier=carrier,
        driver=people[Role.DRIVER],
        escort=people[Role.ESCORT],
        waybill_no=passage.waybill_no,
        waybill=waybill,
        gross_kg=passage.gross_kg,
        vehicle_status=found.vehicle_status if plate else None,
    )
