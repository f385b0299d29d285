"""The monthly risk index (指数评价) of carriers, vehicles and drivers: a pure function.

Each subject starts a month with ``start`` points (100) and loses points per record, by code:

- ``document_expired.<reason>``: an expired document found at a failed entry (``*_expired``);
- ``entry_failed.<reason>``: any other reason a gate failed an entry (both: by reason, below);
- ``officer_override``: the gate failed the entry and an officer let the vehicle in;
- ``officer_held``: the gate passed (or asked for review) and an officer held the vehicle;
- ``alert.<rule kind>``: an alert on the vehicle's devices or about the vehicle (not
  ``gate_failure``: that one is the failed entry itself);
- ``position_violation.<kind>``: a position rule broken inside the park;
- ``booking_refused``: a refused booking.

Overrides, alerts, position violations and bookings count against the carrier, the vehicle and
the driver (of the entry, or on duty: the driver of the vehicle's last passed entry).

Reasons about the crew (qualification, ID card, face, the waybill's personnel) count against
the carrier and the entry's driver, not the vehicle; the carrier's own (unknown carrier, expired
licence) against the carrier only; the rest (vehicle, tank and waybill documents, load, media)
against the carrier and the vehicle. Grade: green at ``green_min`` or above, red below
``red_below``, yellow between. Every deduction carries its evidence (the records it counts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.models import POSITION_RULE_KINDS
from hazgate.settings import RiskIndexSettings

SubjectKind = Literal["carrier", "vehicle", "driver"]
Grade = Literal["green", "yellow", "red"]
KIND_OF_PATH: Final[dict[str, SubjectKind]] = {"carriers": "carrier", "vehicles": "vehicle", "drivers": "driver"}

CREW_REASONS: Final = frozenset(
    {
        "driver_missing",
        "escort_missing",
        "qualification_expired",
        "qualification_wrong_class",
        "id_card_not_registered",
        "face_mismatch",
        "face_not_found",
        "face_quality",
        "liveness_failed",
        "escort_is_driver",
        "waybill_personnel_mismatch",
    }
)
CARRIER_REASONS: Final = frozenset({"carrier_unknown", "carrier_permit_expired"})
# Counted as the failed entry it is (gate_failure), or as the position violation it is (the
# position rules' kinds, records.position_violations), not a second time as an alert.
NOT_COUNTED_ALERT_KINDS: Final = frozenset({"gate_failure", *POSITION_RULE_KINDS})


def reason_subjects(reason: str) -> frozenset[SubjectKind]:
    if reason in CREW_REASONS:
        return frozenset({"carrier", "driver"})
    if reason in CARRIER_REASONS:
        return frozenset({"carrier"})
    return frozenset({"carrier", "vehicle"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Parties(_Frozen):
    """Who a record is about: the vehicle, its carrier, the driver (each may be unknown)."""

    plate: str | None = None
    carrier_id: str | None = None
    driver_id: str | None = None

    def id_for(self, kind: SubjectKind) -> str | None:
        return {"carrier": self.carrier_id, "vehicle": self.plate, "driver": self.driver_id}[kind]


class FailedReason(_Frozen):
    check: str
    code: str
    message: str = ""


class InspectionRecord(_Frozen):
    """A gate decision of the month (pass, fail or review), with an officer's override if any."""

    id: str
    at: datetime
    gate_id: str
    parties: Parties
    result: Literal["pass", "fail", "review"]
    reasons: tuple[FailedReason, ...] = ()  # the failing reasons (status fail)
    override_result: Literal["pass", "fail"] | None = None
    override_by: str | None = None
    override_reason: str | None = None


class AlertRecord(_Frozen):
    id: str
    at: datetime
    rule_kind: str
    rule: str
    severity: str
    device_id: str | None = None
    summary: str = ""
    parties: Parties = Parties()
    acknowledged_at: datetime | None = None
    zone_id: str | None = None  # the layout zone a position rule's alert names


class PositionViolation(_Frozen):
    id: str
    at: datetime
    kind: str
    zone_id: str | None = None
    parties: Parties


class RefusedBooking(_Frozen):
    id: str
    at: datetime
    reason: str = ""
    parties: Parties


class MonthRecords(_Frozen):
    """Everything the index of one site and month is computed from (risk/records.py fetches it)."""

    site: str
    month: str  # YYYY-MM
    inspections: tuple[InspectionRecord, ...] = ()
    alerts: tuple[AlertRecord, ...] = ()
    position_violations: tuple[PositionViolation, ...] = ()
    refused_bookings: tuple[RefusedBooking, ...] = ()
    names: dict[str, str] = Field(default_factory=dict, description="subject key kind:id -> display name")


class Evidence(_Frozen):
    type: Literal["inspection", "alert", "position_violation", "booking"]
    id: str
    at: datetime
    plate: str | None = None
    detail: str = ""


class Deduction(_Frozen):
    code: str
    points: float = Field(description="total points taken off for this code")
    count: int
    evidence: list[Evidence]


class IndexRow(_Frozen):
    id: str
    name: str | None = None
    score: float
    grade: Grade
    deductions: list[Deduction]


def grade_of(score: float, cfg: RiskIndexSettings) -> Grade:
    if score >= cfg.green_min:
        return "green"
    if score < cfg.red_below:
        return "red"
    return "yellow"


def _items(
    records: MonthRecords, cfg: RiskIndexSettings
) -> Iterable[tuple[Parties, frozenset[SubjectKind], str, float, Evidence]]:
    """Every deduction of the month: (parties, who it counts against, code, points, evidence)."""
    everyone: frozenset[SubjectKind] = frozenset({"carrier", "vehicle", "driver"})
    p = cfg.points
    for i in records.inspections:
        if i.result == "fail":
            for r in i.reasons:
                expired = r.code.endswith("_expired")
                code = f"{'document_expired' if expired else 'entry_failed'}.{r.code}"
                points = p.document_expired if expired else p.entry_failed
                ev = Evidence(
                    type="inspection",
                    id=i.id,
                    at=i.at,
                    plate=i.parties.plate,
                    detail=f"{r.check}: {r.message or r.code}",
                )
                yield i.parties, reason_subjects(r.code), code, points, ev
        if i.override_result == "pass" and i.result == "fail":
            ev = Evidence(
                type="inspection",
                id=i.id,
                at=i.at,
                plate=i.parties.plate,
                detail=f"let in by {i.override_by}: {i.override_reason}",
            )
            yield i.parties, everyone, "officer_override", p.officer_override, ev
        if i.override_result == "fail" and i.result in ("pass", "review"):
            ev = Evidence(
                type="inspection",
                id=i.id,
                at=i.at,
                plate=i.parties.plate,
                detail=f"held by {i.override_by}: {i.override_reason}",
            )
            yield i.parties, everyone, "officer_held", p.officer_held, ev
    for a in records.alerts:
        if a.rule_kind in NOT_COUNTED_ALERT_KINDS:
            continue
        ev = Evidence(
            type="alert", id=a.id, at=a.at, plate=a.parties.plate, detail=f"{a.severity} {a.rule}: {a.summary}"
        )
        yield a.parties, everyone, f"alert.{a.rule_kind}", p.alert.get(a.rule_kind, p.alert_default), ev
    for v in records.position_violations:
        ev = Evidence(
            type="position_violation", id=v.id, at=v.at, plate=v.parties.plate, detail=f"{v.kind} in {v.zone_id or '?'}"
        )
        yield v.parties, everyone, f"position_violation.{v.kind}", p.position_violation, ev
    for b in records.refused_bookings:
        ev = Evidence(type="booking", id=b.id, at=b.at, plate=b.parties.plate, detail=b.reason)
        yield b.parties, everyone, "booking_refused", p.booking_refused, ev


def compute_index(kind: SubjectKind, records: MonthRecords, cfg: RiskIndexSettings) -> list[IndexRow]:
    """The index of every ``kind`` subject seen in the month, reddest first (then by id)."""
    subjects: set[str] = set()
    for i in records.inspections:
        if (sid := i.parties.id_for(kind)) is not None:
            subjects.add(sid)
    found: dict[str, dict[str, list[tuple[float, Evidence]]]] = defaultdict(lambda: defaultdict(list))
    for parties, against, code, points, ev in _items(records, cfg):
        sid = parties.id_for(kind)
        if sid is None or kind not in against:
            continue
        subjects.add(sid)
        found[sid][code].append((points, ev))
    rows = []
    for sid in subjects:
        deductions = [
            Deduction(
                code=code,
                points=round(sum(pts for pts, _ in items), 2),
                count=len(items),
                evidence=sorted((ev for _, ev in items), key=lambda e: (e.at, e.id)),
            )
            for code, items in sorted(found[sid].items())
        ]
        score = round(max(0.0, cfg.start - sum(d.points for d in deductions)), 2)
        rows.append(
            IndexRow(
                id=sid,
                name=records.names.get(f"{kind}:{sid}"),
                score=score,
                grade=grade_of(score, cfg),
                deductions=deductions,
            )
        )
    rows.sort(key=lambda r: (r.score, r.id))
    return rows


def distribution(rows: Sequence[IndexRow]) -> dict[Grade, int]:
    out: dict[Grade, int] = {"green": 0, "yellow": 0, "red": 0}
    for r in rows:
        out[r.grade] += 1
    return out
