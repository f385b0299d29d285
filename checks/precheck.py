"""The pre-check at booking time (预约预检): the 五必查 that can be known before the tanker sets
out — everything but the live faces and the weighbridge — against the registry, for the whole
slot, and the blacklist. The carrier hears what would fail at the gate before the truck leaves.

Each check runs as the gate would at the slot's start and at its end: a document expiring
before the slot ends fails (the truck may arrive late in the slot), and so does a waybill not
valid yet when the slot starts. Where both moments say something, the slot's end is reported.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import AwareDatetime, model_validator

from checks import blacklist, inspection_validity, permitted_media, personnel, vehicle_documents, waybill_match
from checks.decide import Check, Decision, decide
from checks.facts import FactsModel, GateFacts, IdCardRead, MissingInput, PersonAtGate, PlateRead
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.reasons import ReasonCode
from checks.result import CheckResult, CheckStatus, worst
from checks.stay_facts import Listing, Subjects
from registry.models import Carrier, PersonRecord, Vehicle, Waybill

# What only the gate can know: the live faces and the weighbridge.
AT_THE_GATE_ONLY = frozenset({ReasonCode.FACE_MISSING, ReasonCode.WEIGHT_MISSING})
GATE_INPUTS = frozenset({MissingInput.DRIVER_FACE, MissingInput.ESCORT_FACE, MissingInput.WEIGHT})
KNOWN_BEFORE_ARRIVAL: tuple[Check, ...] = (
    vehicle_documents.check,
    personnel.check,
    inspection_validity.check,
    waybill_match.check,
    permitted_media.check,
)


class BookingRequestFacts(FactsModel):
    """A booking request and the registry records it names. The crew is the one the booking
    names, or else the waybill's."""

    plate: str
    vehicle: Vehicle | None = None
    carrier: Carrier | None = None
    waybill_no: str
    waybill: Waybill | None = None
    driver_id: str | None = None
    escort_id: str | None = None
    driver: PersonRecord | None = None
    escort: PersonRecord | None = None
    slot_start: AwareDatetime
    slot_end: AwareDatetime

    @model_validator(mode="after")
    def _slot_in_order(self) -> BookingRequestFacts:
        if self.slot_end <= self.slot_start:
            raise ValueError("a slot ends after it starts")
        return self

    def gate_facts(self) -> GateFacts:
        """The gate's facts as they will be when the tanker arrives, minus faces and weight."""

        def person(id_number: str | None, record: PersonRecord | None) -> PersonAtGate:
            if id_number is None:
                return PersonAtGate()
            name = record.name if record is not None else ""
            return PersonAtGate(id_card=IdCardRead(id_number=id_number, name=name), record=record)

        return GateFacts(
            plate=PlateRead(plate=self.plate, confidence=1.0),
            vehicle=self.vehicle,
            carrier=self.carrier,
            driver=person(self.driver_id, self.driver),
            escort=person(self.escort_id, self.escort),
            waybill_no=self.waybill_no,
            waybill=self.waybill,
        )

    def subjects(self) -> Subjects:
        people = tuple(p for p in (self.driver_id, self.escort_id) if p is not None)
        carrier_id = self.vehicle.carrier_id if self.vehicle is not None else None
        return Subjects(plate=self.plate, carrier_id=carrier_id, people=people)


def _known_part(result: CheckResult) -> CheckResult:
    """A gate result without what only the gate can know."""
    reasons = tuple(r for r in result.reasons if r.code not in AT_THE_GATE_ONLY)
    return result.model_copy(
        update={
            "reasons": reasons,
            "status": worst(r.status for r in reasons),
            "missing_inputs": tuple(m for m in result.missing_inputs if m not in GATE_INPUTS),
        }
    )


def _over_the_slot(at_start: CheckResult, at_end: CheckResult, facts: BookingRequestFacts) -> CheckResult:
    """One result for the slot: the end's reasons, and the start's that the end does not give."""
    end = _known_part(at_end)
    start = _known_part(at_start)
    codes = {r.code for r in end.reasons}
    reasons = end.reasons + tuple(r for r in start.reasons if r.code not in codes)
    evidence = {**end.evidence, "slot_start": facts.slot_start.isoformat(), "slot_end": facts.slot_end.isoformat()}
    status = worst(r.status for r in reasons) if reasons else CheckStatus.PASS
    return end.model_copy(update={"reasons": reasons, "status": status, "evidence": evidence})


def precheck(facts: BookingRequestFacts, listings: Iterable[Listing], policy: CheckPolicy = DEFAULT_POLICY) -> Decision:
    gate = facts.gate_facts()
    results = [
        _over_the_slot(check(gate, facts.slot_start, policy), check(gate, facts.slot_end, policy), facts)
        for check in KNOWN_BEFORE_ARRIVAL
    ]
    results.append(blacklist.check(facts.subjects(), listings, facts.slot_start, policy))
    return decide(results)
