"""Device payloads as the contract defines them (docs/protocol.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, TypeAdapter


class TelemetryReading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Kept as the device's text: checked against RFC 3339 and parsed by the validator (C-fast
    # datetime.fromisoformat), and handed to PostgreSQL as sent, which parses it again in C.
    ts: Annotated[StrictStr, Field(max_length=40)]
    seq: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
    # Strict numbers: "12.5" as a string is a wrong type, not a number to guess at.
    values: dict[str, StrictFloat | StrictInt] = Field(min_length=1, max_length=64)


# A message carries one reading or an array of them (devices that buffer between sends).
MAX_READINGS_PER_MESSAGE = 1000
READING_ADAPTER: TypeAdapter[TelemetryReading] = TypeAdapter(TelemetryReading)
READINGS_ADAPTER: TypeAdapter[list[TelemetryReading]] = TypeAdapter(
    Annotated[list[TelemetryReading], Field(min_length=1, max_length=MAX_READINGS_PER_MESSAGE)]
)


class StatusPayload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    state: Literal["online", "offline"]
    ts: datetime | None = None


STATUS_ADAPTER = TypeAdapter(StatusPayload)


# -- gate events ------------------------------------------------------------------------------
class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID
    ts: AwareDatetime


class PlateEvent(_Event):
    type: Literal["plate"]
    plate: str = Field(min_length=2, max_length=16)
    confidence: float = Field(ge=0.0, le=1.0)
    image_b64: str | None = None


class IdCardEvent(_Event):
    type: Literal["id_card"]
    role: Literal["driver", "escort"]
    id_number: str = Field(min_length=15, max_length=18)
    name: str = Field(min_length=1, max_length=64)
    photo_b64: str = Field(min_length=16)


class FaceEvent(_Event):
    type: Literal["face"]
    role: Literal["driver", "escort"]
    # One frame, or a short burst for the liveness check (frames_b64), or both.
    image_b64: str | None = None
    frames_b64: list[str] | None = Field(default=None, max_length=15)


class WeightEvent(_Event):
    type: Literal["weight"]
    gross_kg: StrictFloat | StrictInt = Field(gt=0, le=100_000)


class WaybillEvent(_Event):
    type: Literal["waybill"]
    waybill_no: str = Field(min_length=1, max_length=64)


# One gate event, parsed once at the boundary (gateway/gate_events.py) into its model by its
# "type", and handed on as that model to the end (the passage, the face work, the record).
GateEvent = PlateEvent | IdCardEvent | FaceEvent | WeightEvent | WaybillEvent
GATE_EVENT_ADAPTER: TypeAdapter[GateEvent] = TypeAdapter(Annotated[GateEvent, Field(discriminator="type")])
IMAGE_FIELDS = frozenset({"image_b64", "photo_b64", "frames_b64"})


def stored_body(event: GateEvent) -> dict[str, object]:
    """The event as recorded in ``gate_events``: everything but the image bytes (kept apart,
    under the biometric retention), and whether it carried any."""
    body: dict[str, object] = event.model_dump(mode="json", exclude=set(IMAGE_FIELDS))
    body["has_image"] = any(getattr(event, name, None) for name in IMAGE_FIELDS)
    return body
