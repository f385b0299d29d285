"""The messages hazgate publishes to a gate: its decision and its barrier command.

The one place their topics and payloads are built (docs/protocol.md): the gate pipeline, an
officer's override and an officer closing a stay all publish through here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from checks import MISSING_INPUT_PROMPTS, CheckStatus, Decision
from hazgate.topics import GateKind, gate_topic

BarrierCommand = Literal["open", "hold"]


def decision_topic(site: str, gate_id: str) -> str:
    """Retained: a kiosk that reconnects shows the current state."""
    return gate_topic(site, gate_id, GateKind.DECISION)


def barrier_topic(site: str, gate_id: str) -> str:
    """Not retained: a barrier controller that reconnects must not open again."""
    return gate_topic(site, gate_id, GateKind.BARRIER)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReasonOut(_Message):
    code: str
    message: str
    message_zh: str


class CheckOut(_Message):
    code: str
    status: str
    reasons: list[ReasonOut]


class MissingOut(_Message):
    input: str
    prompt_zh: str
    prompt: str


class DecisionMessage(_Message):
    """The contract's decision payload, plus what the kiosk shows."""

    inspection_id: str
    plate: str | None
    result: str
    direction: str
    checks: list[CheckOut]
    missing: list[MissingOut]
    comparing_faces: bool
    latency_ms: float
    site: str
    gate_id: str
    ts: str
    visit_id: str | None = None


class BarrierMessage(_Message):
    command: BarrierCommand
    inspection_id: str
    override_by: str | None = None
    visit_id: str | None = None


def barrier_command(result: CheckStatus | str) -> BarrierCommand | None:
    """What a decided result does to the barrier; None while the result is still pending."""
    value = CheckStatus(result)
    if value is CheckStatus.PENDING:
        return None
    return "open" if value is CheckStatus.PASS else "hold"


def decision_payload(
    *,
    inspection_id: str,
    site: str,
    gate_id: str,
    plate: str | None,
    direction: str,
    decision: Decision,
    latency_ms: float,
    comparing_faces: bool,
    now: datetime,
    visit_id: str | None = None,
) -> bytes:
    message = DecisionMessage(
        inspection_id=inspection_id,
        plate=plate,
        result=decision.result.value,
        direction=direction,
        checks=[
            CheckOut(
                code=c.code.value,
                status=c.status.value,
                reasons=[ReasonOut(code=r.code.value, message=r.message, message_zh=r.message_zh) for r in c.reasons],
            )
            for c in decision.checks
        ],
        missing=[
            MissingOut(input=m.value, prompt_zh=MISSING_INPUT_PROMPTS[m][0], prompt=MISSING_INPUT_PROMPTS[m][1])
            for m in decision.missing_inputs
        ],
        comparing_faces=comparing_faces,
        latency_ms=round(latency_ms, 1),
        site=site,
        gate_id=gate_id,
        ts=now.isoformat(),
        visit_id=visit_id,
    )
    # "plate" stays even when null (the contract's field); the stay's id only when there is one.
    return message.model_dump_json(exclude={"visit_id"} if visit_id is None else None).encode()


def barrier_payload(
    command: BarrierCommand, inspection_id: str, *, override_by: str | None = None, visit_id: str | None = None
) -> bytes:
    message = BarrierMessage(command=command, inspection_id=inspection_id, override_by=override_by, visit_id=visit_id)
    return message.model_dump_json(exclude_none=True).encode()  # optional fields only when set
