"""Gate inspections: the record of every visit, and an officer's override (audited)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from api import sync_db
from api.auth import Principal, Role
from api.commands import CommandNotSent, CommandPublisher
from api.deps import ApiError, Conn, require
from api.openapi import errors
from gateway.gate_messages import barrier_command, barrier_payload, barrier_topic
from stays import lifecycle

router = APIRouter(prefix="/api/v1/inspections", tags=["inspections"])
Viewer = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER, Role.KIOSK))]
Officer = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER))]

COLUMNS = (
    "id, site, gate_id, plate, opened_at, updated_at, decided_at, closed_at, close_reason, result, checks, missing,"
    " inputs, latency_ms, timings, override_result, override_by, override_reason, override_at, direction"
)


class ReasonOut(BaseModel):
    code: str
    status: str
    message: str
    message_zh: str


class CheckOut(BaseModel):
    code: str
    status: str
    reasons: list[ReasonOut]
    evidence: dict[str, Any]
    missing_inputs: list[str] = []


class InspectionOut(BaseModel):
    id: UUID
    site: str
    gate_id: str
    plate: str | None
    opened_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    result: str = Field(description="the gate's decision: pass, fail, review or pending")
    effective_result: str = Field(description="the decision after an officer's override, if any")
    checks: list[CheckOut]
    missing: list[str]
    inputs: dict[str, Any]
    latency_ms: float | None
    timings: dict[str, float]
    override_result: str | None
    override_by: str | None
    override_reason: str | None
    override_at: datetime | None
    direction: str = Field(description="entry or exit")


class OverrideIn(BaseModel):
    result: Literal["pass", "fail"]
    reason: str = Field(min_length=5, max_length=1000, description="why the officer overrides the gate")


def _row(cur_description: Any, row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip([c.name for c in cur_description], row, strict=True))
    out["effective_result"] = out["override_result"] or out["result"]
    return out


def _scope(principal: Principal, site: str | None, gate: str | None) -> tuple[str | None, str | None]:
    """A kiosk sees only its own gate."""
    if principal.role is Role.KIOSK:
        if (site and site != principal.site) or (gate and gate != principal.gate_id):
            raise ApiError(403, "forbidden", "a kiosk sees only its own gate")
        return principal.site, principal.gate_id
    return site, gate


@router.get("", response_model=list[InspectionOut])
async def list_inspections(
    conn: Conn,
    principal: Viewer,
    gate: str | None = None,
    site: str | None = None,
    plate: str | None = None,
    result: Literal["pass", "fail", "review", "pending"] | None = None,
    since: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    site, gate = _scope(principal, site, gate)
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM inspections"  # noqa: S608 - fixed column list
        " WHERE (%(site)s::text IS NULL OR site = %(site)s) AND (%(gate)s::text IS NULL OR gate_id = %(gate)s)"
        " AND (%(plate)s::text IS NULL OR plate = %(plate)s) AND (%(result)s::text IS NULL OR result = %(result)s)"
        " AND (%(since)s::timestamptz IS NULL OR updated_at >= %(since)s)"
        " ORDER BY opened_at DESC LIMIT %(limit)s",
        {"site": site, "gate": gate, "plate": plate, "result": result, "since": since, "limit": limit},
    )
    return [_row(cur.description, r) for r in await cur.fetchall()]


async def _one(conn: Conn, inspection_id: UUID) -> dict[str, Any]:
    cur = await conn.execute(f"SELECT {COLUMNS} FROM inspections WHERE id = %s", (inspection_id,))  # noqa: S608
    row = await cur.fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"no inspection {inspection_id}")
    return _row(cur.description, row)


@router.get("/{inspection_id}", response_model=InspectionOut)
async def get_inspection(inspection_id: UUID, conn: Conn, principal: Viewer) -> dict[str, Any]:
    found = await _one(conn, inspection_id)
    if principal.role is Role.KIOSK and (found["site"], found["gate_id"]) != (principal.site, principal.gate_id):
        raise ApiError(404, "not_found", f"no inspection {inspection_id}")  # do not reveal other gates
    return found


@router.post("/{inspection_id}/override", response_model=InspectionOut, responses=errors(409, 503))
async def override_inspection(
    inspection_id: UUID, body: OverrideIn, conn: Conn, officer: Officer, request: Request
) -> dict[str, Any]:
    """An officer decides instead of the gate, with a reason; the barrier follows and it is audited.

    The barrier command goes out on the API's own MQTT client, whatever the role. With the broker
    unreachable the answer is 503 and nothing changes; should it fail between the record and the
    command, the 503 says the override is recorded and the command not sent.
    """
    found = await _one(conn, inspection_id)
    if found["result"] == "pending":
        raise ApiError(409, "not_decided", "the gate has not decided yet; wait for the checks or the missing inputs")
    commands: CommandPublisher = request.app.state.commands
    command = barrier_command(body.result)
    if command is not None:
        try:
            await commands.ready()
        except CommandNotSent as exc:
            raise ApiError(
                503,
                "barrier_unreachable",
                f"the barrier command ({command}) cannot be sent: {exc.message}. Nothing is recorded;"
                " try again in a moment, or operate the barrier by hand",
            ) from exc
    async with conn.transaction():
        await conn.execute(
            "UPDATE inspections SET override_result = %s, override_by = %s, override_reason = %s, override_at = now()"
            " WHERE id = %s",
            (body.result, officer.name, body.reason, inspection_id),
        )
        await conn.execute(
            "INSERT INTO inspection_audit (inspection_id, actor, action, detail) VALUES (%s, %s, 'override', %s)",
            (
                inspection_id,
                officer.name,
                json.dumps({"from": found["result"], "to": body.result, "reason": body.reason}, ensure_ascii=False),
            ),
        )
    # The stay follows the officer's decision as it would the gate's (inside on an entry pass,
    # closed on an exit pass); committed on its own connection, before the barrier moves.
    stay = partial(
        lifecycle.inspection_overridden,
        site=found["site"],
        gate_id=found["gate_id"],
        plate=found["plate"],
        direction=found["direction"],
        inspection_id=inspection_id,
        result=body.result,
        waybill_no=(found["inputs"] or {}).get("waybill_no"),
        by=officer.name,
        at=sync_db.now(),
        policy=sync_db.policy(request),
    )
    await conn.commit()
    await sync_db.run(request, stay)
    if command is not None:
        payload = barrier_payload(command, str(inspection_id), override_by=officer.name)
        try:
            await commands.send(barrier_topic(found["site"], found["gate_id"]), payload)
        except CommandNotSent as exc:
            raise ApiError(
                503,
                "barrier_unreachable",
                f"the override is recorded, but the barrier command ({command}) was not sent: {exc.message}."
                " Operate the barrier by hand, or repeat the override to send the command again",
            ) from exc
    return await _one(conn, inspection_id)
