"""What the dashboard and the kiosk open with: each gate and the vehicle at it now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import Principal, Role
from api.deps import Conn, require
from api.routes.inspections import COLUMNS, InspectionOut
from checks import MISSING_INPUT_PROMPTS, MissingInput

router = APIRouter(prefix="/api/v1", tags=["overview"])
Viewer = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER, Role.KIOSK))]


class GateDeviceOut(BaseModel):
    device_id: str
    type: str
    state: str
    last_seen_at: datetime | None


class MissingPromptOut(BaseModel):
    input: str
    prompt_zh: str
    prompt: str


class GateOut(BaseModel):
    site: str
    gate_id: str
    devices: list[GateDeviceOut]
    current: InspectionOut | None = Field(description="the open inspection of the vehicle at the gate now")
    missing_prompts: list[MissingPromptOut] = Field(description="what the kiosk asks for, for the current inspection")


@router.get("/gates", response_model=list[GateOut])
async def list_gates(
    conn: Conn,
    principal: Viewer,
    site: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] = None,
) -> list[dict[str, Any]]:
    """Gates (from their registered devices) with the open inspection of the vehicle there now.
    A kiosk sees only its own gate."""
    scope = {"site": site, "gate": None}
    if principal.role is Role.KIOSK:
        scope = {"site": principal.site, "gate": principal.gate_id}
    cur = await conn.execute(
        "SELECT site, gate_id, device_id, type, state, last_seen_at FROM devices WHERE gate_id IS NOT NULL"
        " AND (%(site)s::text IS NULL OR site = %(site)s) AND (%(gate)s::text IS NULL OR gate_id = %(gate)s)"
        " ORDER BY site, gate_id, device_id",
        scope,
    )
    gates: dict[tuple[str, str], dict[str, Any]] = {}
    for site_, gate_id, device_id, type_, state, seen in await cur.fetchall():
        gate = gates.setdefault(
            (site_, gate_id), {"site": site_, "gate_id": gate_id, "devices": [], "current": None, "missing_prompts": []}
        )
        gate["devices"].append({"device_id": device_id, "type": type_, "state": state, "last_seen_at": seen})
    cur = await conn.execute(
        f"SELECT DISTINCT ON (site, gate_id) {COLUMNS} FROM inspections"  # noqa: S608 - fixed column list
        " WHERE closed_at IS NULL AND (%(site)s::text IS NULL OR site = %(site)s)"
        " AND (%(gate)s::text IS NULL OR gate_id = %(gate)s) AND opened_at > now() - interval '1 day'"
        " ORDER BY site, gate_id, opened_at DESC",
        scope,
    )
    cols = [c.name for c in cur.description or []]
    for row in await cur.fetchall():
        found = dict(zip(cols, row, strict=True))
        found["effective_result"] = found["override_result"] or found["result"]
        at_gate = gates.get((found["site"], found["gate_id"]))
        if at_gate is not None:
            at_gate["current"] = found
            at_gate["missing_prompts"] = [_prompt(m) for m in found["missing"]]
    return list(gates.values())


def _prompt(name: str) -> dict[str, str]:
    try:
        zh, en = MISSING_INPUT_PROMPTS[MissingInput(name)]
    except ValueError:
        zh, en = name, name
    return {"input": name, "prompt_zh": zh, "prompt": en}
