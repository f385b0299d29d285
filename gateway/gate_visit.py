"""One tanker's visit to a gate: the inputs gathered so far, and how events change them.

Pure: no database, no MQTT, no images decoded here. The pipeline feeds events in, asks which
face comparisons are due, gives their results back, and builds the checks' facts from a visit
plus registry records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checks import FaceEvidence, GateFacts, IdCardRead, PersonAtGate, PlateRead, VehicleStatusFacts
from registry.identifiers import canonical_plate
from registry.models import Carrier, EnrolmentFlag, PersonRecord, Role, Vehicle, Waybill

ROLES = (Role.DRIVER, Role.ESCORT)


@dataclass
class IdCardInput:
    event_id: str
    id_number: str
    name: str
    photo: bytes


@dataclass
class FaceInput:
    event_id: str
    image: bytes | None
    frames: list[bytes]


@dataclass
class Visit:
    site: str
    gate_id: str
    opened_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    plate: PlateRead | None = None
    id_cards: dict[Role, IdCardInput] = field(default_factory=dict)
    faces: dict[Role, FaceInput] = field(default_factory=dict)
    # Face comparisons done, by role, for the (card event, face event) pair they compared.
    face_evidence: dict[Role, tuple[tuple[str, str], FaceEvidence]] = field(default_factory=dict)
    waybill_no: str | None = None
    gross_kg: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    last_event_at: float = 0.0  # time.time() the last input event reached the gateway
    updated_at: datetime | None = None
    decided_at: datetime | None = None
    timings: dict[str, float] = field(default_factory=dict)  # face work, ms

    def apply(self, event: dict[str, Any], received_at: float, ts: datetime) -> bool:
        """Take one event in; False when it changes nothing (a duplicate)."""
        kind = event["type"]
        if any(e["event_id"] == event["event_id"] for e in self.events):
            return False
        self.events.append({"event_id": event["event_id"], "type": kind, "role": event.get("role"), "ts": ts})
        self.last_event_at = received_at
        self.updated_at = ts
        if kind == "plate":
            read = PlateRead(plate=event["plate"], confidence=event["confidence"])
            # Several reads of one plate: keep the surest.
            if self.plate is None or read.confidence >= self.plate.confidence:
                self.plate = read
        elif kind == "id_card":
            role = Role(event["role"])
            self.id_cards[role] = IdCardInput(event["event_id"], event["id_number"], event["name"], event["photo"])
        elif kind == "face":
            role = Role(event["role"])
            self.faces[role] = FaceInput(event["event_id"], event.get("image"), event.get("frames") or [])
        elif kind == "weight":
            self.gross_kg = float(event["gross_kg"])
        elif kind == "waybill":
            self.waybill_no = event["waybill_no"].strip()
        return True

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

    def inputs_summary(self) -> dict[str, Any]:
        """What arrived, for the record (no image bytes)."""
        return {
            "plate": self.plate.model_dump() if self.plate else None,
            "id_cards": {r.value: {"id_number": c.id_number, "name": c.name} for r, c in self.id_cards.items()},
            "faces": {r.value: {"frames": len(f.frames), "event_id": f.event_id} for r, f in self.faces.items()},
            "waybill_no": self.waybill_no,
            "gross_kg": self.gross_kg,
            "events": [{**e, "ts": e["ts"].isoformat()} for e in self.events],
        }


def same_plate(visit: Visit, plate: str) -> bool:
    return visit.plate is not None and visit.plate.plate == canonical_plate(plate)


@dataclass(frozen=True)
class Lookups:
    """Registry records the pipeline found for a visit's keys."""

    vehicle: Vehicle | None = None
    carrier: Carrier | None = None
    people: dict[str, PersonRecord] = field(default_factory=dict)  # by id number
    waybill: Waybill | None = None
    vehicle_status: VehicleStatusFacts | None = None
    # Import flags of the people found (no_usable_photo: no enrolled-photo comparison), by id number.
    enrolment_flags: dict[str, tuple[EnrolmentFlag, ...]] = field(default_factory=dict)


def build_facts(visit: Visit, found: Lookups) -> GateFacts:
    people = {}
    for role in ROLES:
        card = visit.id_cards.get(role)
        id_card = IdCardRead(id_number=card.id_number, name=card.name) if card else None
        record = found.people.get(id_card.id_number) if id_card else None
        flags = found.enrolment_flags.get(record.id_number, ()) if record else ()
        people[role] = PersonAtGate(
            id_card=id_card, record=record, face=visit.current_evidence(role), enrolment_flags=flags
        )
    vehicle = found.vehicle if visit.plate and found.vehicle and found.vehicle.plate == visit.plate.plate else None
    carrier = found.carrier if vehicle and found.carrier and found.carrier.id == vehicle.carrier_id else None
    waybill = found.waybill if found.waybill and found.waybill.waybill_no == visit.waybill_no else None
    return GateFacts(
        plate=visit.plate,
        vehicle=vehicle,
        carrier=carrier,
        driver=people[Role.DRIVER],
        escort=people[Role.ESCORT],
        waybill_no=visit.waybill_no,
        waybill=waybill,
        gross_kg=visit.gross_kg,
        vehicle_status=found.vehicle_status if visit.plate else None,
    )
