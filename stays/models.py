"""The stay's records as the API and the pages see them (CONTRACT v1.1: Bookings, Visits)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from checks.stay_facts import BookingState

__all__ = ["BookingState"]


class VisitState(StrEnum):
    QUEUED = "queued"  # waiting in the lot
    INSIDE = "inside"  # past the entry gate
    CLOSED = "closed"  # out through an exit gate, or closed by an officer


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class TimelineEntry(Record):
    ts: datetime
    kind: str = Field(
        description="booked, approved, queued, called, entry_inspection, entered, tracker_assigned, "
        "waybill_closed, alert, exit_inspection, exited, closed"
    )
    detail: dict[str, Any] = Field(default_factory=dict)


class Cargo(Record):
    un: str
    name: str
    quantity_kg: float


class Position(Record):
    lat: float
    lon: float
    ts: datetime
    device_id: str
    zone_id: str | None = None


class Visit(Record):
    id: uuid.UUID
    site: str
    plate: str
    state: VisitState
    booking_id: uuid.UUID | None = None
    lot_id: str | None = None
    queued_at: datetime | None = None
    called_at: datetime | None = None
    called_gate: str | None = None
    entry_inspection_id: uuid.UUID | None = None
    exit_inspection_id: uuid.UUID | None = None
    entered_at: datetime | None = None
    exited_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    closed_by: str | None = None
    waybill_no: str | None = None
    waybill_closed_at: datetime | None = None
    tracker_device_id: str | None = None
    cargo: Cargo | None = None
    position: Position | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)


class Booking(Record):
    id: uuid.UUID
    site: str
    plate: str
    waybill_no: str
    driver_id: str | None = None
    escort_id: str | None = None
    slot_start: datetime
    slot_end: datetime
    enterprise: str | None = None
    state: BookingState
    precheck: dict[str, Any]
    reason: str | None = None
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime
    visit_id: uuid.UUID | None = None


class QueueEntry(Record):
    """A tanker waiting in a lot, in the order it will be called."""

    position: int
    visit_id: uuid.UUID
    site: str
    plate: str
    lot_id: str | None
    queued_at: datetime
    booking_id: uuid.UUID | None
    slot_start: datetime | None
    slot_end: datetime | None
    called_at: datetime | None
    called_gate: str | None
    eligible: bool = Field(description="its slot has started (or it has no booking): it may be called now")


class Lot(Record):
    site: str
    lot_id: str
    capacity: int
    queued: int = 0
