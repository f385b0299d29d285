"""What the stay's checks know: blacklist listings, bookings, and the tanker at an exit gate.

Frozen models gathered by the gateway (or the bookings API) before the pure checks run, like
``GateFacts`` for the 五必查.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, Field, model_validator

from checks.facts import FactsModel, GateFacts, PlateRead
from registry.models import Vehicle, Waybill


class SubjectKind(StrEnum):
    VEHICLE = "vehicle"
    PERSON = "person"
    CARRIER = "carrier"


class Listing(FactsModel):
    """One blacklist entry: who, why, and until when (None: until lifted)."""

    id: str
    subject_kind: SubjectKind
    subject_id: str
    reason: str
    until: AwareDatetime | None = None


class Subjects(FactsModel):
    """Who a booking or an entry involves, as the blacklist names them."""

    plate: str | None = None
    carrier_id: str | None = None
    people: tuple[str, ...] = ()  # ID numbers

    @classmethod
    def at_gate(cls, facts: GateFacts) -> Subjects:
        cards = (facts.driver.id_card, facts.escort.id_card)
        return cls(
            plate=facts.plate.plate if facts.plate else None,
            carrier_id=facts.vehicle.carrier_id if facts.vehicle else None,
            people=tuple(card.id_number for card in cards if card is not None),
        )

    def names(self) -> set[tuple[SubjectKind, str]]:
        named = {(SubjectKind.PERSON, person) for person in self.people}
        if self.plate:
            named.add((SubjectKind.VEHICLE, self.plate))
        if self.carrier_id:
            named.add((SubjectKind.CARRIER, self.carrier_id))
        return named


class BookingState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REFUSED = "refused"
    ARRIVED = "arrived"  # at the waiting lot
    USED = "used"  # through the entry gate
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# A booking in one of these states admits its tanker within its slot.
ADMITTING = frozenset({BookingState.APPROVED, BookingState.ARRIVED})


class BookingSeen(FactsModel):
    id: str
    state: BookingState
    slot_start: AwareDatetime
    slot_end: AwareDatetime


class BookingFacts(FactsModel):
    """The site's rule and the plate's bookings, for the entry gate's booking check."""

    plate: str | None = None
    required: bool = False
    bookings: tuple[BookingSeen, ...] = ()


class StayAtExit(FactsModel):
    """The tanker's open stay (state ``inside``), as the exit gate sees it."""

    visit_id: str
    entered_at: AwareDatetime | None = None
    waybill_no: str | None = None
    waybill_closed_at: AwareDatetime | None = None


class ExitFacts(FactsModel):
    """A tanker at an exit gate: its plate read, record, open stay, the stay's waybill, the weighbridge."""

    plate: PlateRead | None = None
    vehicle: Vehicle | None = None
    visit: StayAtExit | None = None
    waybill: Waybill | None = None
    gross_kg: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _records_match_their_keys(self) -> ExitFacts:
        if self.vehicle is not None and (self.plate is None or self.plate.plate != self.vehicle.plate):
            raise ValueError("a vehicle record must be the one looked up by the plate read")
        if self.waybill is not None and (self.visit is None or self.visit.waybill_no != self.waybill.waybill_no):
            raise ValueError("a waybill record must be the one the stay names")
        return self
