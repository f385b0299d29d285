"""Alert rules as data: create, list, delete. Effective without restart: the alert service is
told by the migration's trigger (NOTIFY) and reloads before its next evaluation tick.

Bodies are validated by the core (alerts.models) as the request body, so a bad rule is a 422
naming the field: ``body.threshold.metric: Value error, unknown metric 'tank_pressure_psi'; ...``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body
from psycopg.types.json import Jsonb
from pydantic import Field, TypeAdapter

from alerts.models import (
    AbsenceRule,
    DwellRule,
    FlagRule,
    GateFailureRule,
    OffRouteRule,
    RateRule,
    Rule,
    SpeedingRule,
    StopRule,
    ThresholdRule,
    ZoneRule,
)
from api.deps import ApiError, Conn
from api.routes.alert_common import Deleted, Officer, write_transaction

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])


class ThresholdRuleOut(ThresholdRule):
    id: str
    enabled: bool
    created_by: str
    created_at: datetime


class RateRuleOut(RateRule):
    id: str
    enabled: bool
    created_by: str
    created_at: datetime


class AbsenceRuleOut(AbsenceRule):
    id: str
    enabled: bool
    created_by: str
    created_at: datetime


class DwellRuleOut(DwellRule):
    id: str
    enabled: bool
    created_by: str
    created_at: datetime


class GateFailureRuleOut(GateFailureRule):
    id: str
    enabled: bool
    created_by: str
    created_at: datetime


class FlagRuleOut(FlagRule):
    id: str
    enabled: bool
    created_by: str
    created_at: datetime


# Rules on positions (issue 11).
class ZoneRuleOut(ZoneRule):
    id: str
    enabled: bool
    created_by: str
    created_at: datetime


class SpeedingRuleOut(SpeedingRule):
    id: str
    enabled: bool
    created_by: str
    created_at: datetime


class StopRuleOut(StopRule):
    id: str
    enabled: bool
    created_by: str
    created_at: datetime


class OffRouteRuleOut(OffRouteRule):
    id: str
    enabled: bool
    created_by: str
    created_at: datetime


RuleOut = Annotated[
    ThresholdRuleOut
    | RateRuleOut
    | AbsenceRuleOut
    | DwellRuleOut
    | GateFailureRuleOut
    | FlagRuleOut
    | ZoneRuleOut
    | SpeedingRuleOut
    | StopRuleOut
    | OffRouteRuleOut,
    Field(discriminator="kind"),
]
RULE_OUT: TypeAdapter[RuleOut] = TypeAdapter(RuleOut)

_SELECT = "SELECT id::text, body, enabled, created_by, created_at FROM alert_rules"


def _out(row: tuple[Any, ...]) -> RuleOut:
    rule_id, body, enabled, created_by, created_at = row
    return RULE_OUT.validate_python(
        {**body, "id": rule_id, "enabled": enabled, "created_by": created_by, "created_at": created_at}
    )


@router.get("", response_model=list[RuleOut])
async def list_rules(conn: Conn, _p: Officer) -> list[RuleOut]:
    cur = await conn.execute(f"{_SELECT} WHERE deleted_at IS NULL ORDER BY created_at")
    return [_out(r) for r in await cur.fetchall()]


@router.get("/{rule_id}", response_model=RuleOut)
async def get_rule(rule_id: UUID, conn: Conn, _p: Officer) -> RuleOut:
    cur = await conn.execute(f"{_SELECT} WHERE id = %s AND deleted_at IS NULL", (rule_id,))
    row = await cur.fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"no rule {rule_id}")
    return _out(row)


@router.post("", response_model=RuleOut, status_code=201)
async def create_rule(rule: Annotated[Rule, Body()], conn: Conn, principal: Officer) -> RuleOut:
    body = rule.model_dump(mode="json", exclude_none=True)
    async with write_transaction(conn):
        cur = await conn.execute(
            "INSERT INTO alert_rules (id, body, created_by) VALUES (%s, %s, %s)"
            " RETURNING id::text, body, enabled, created_by, created_at",
            (uuid.uuid4(), Jsonb(body), principal.name),
        )
        row = await cur.fetchone()
    assert row is not None
    return _out(row)


@router.delete("/{rule_id}", response_model=Deleted)
async def delete_rule(rule_id: UUID, conn: Conn, principal: Officer) -> Deleted:
    """The rule stops being evaluated; its open alerts resolve (reason ``rule_removed``)."""
    async with write_transaction(conn):
        cur = await conn.execute(
            "UPDATE alert_rules SET deleted_at = now(), deleted_by = %s, enabled = false"
            " WHERE id = %s AND deleted_at IS NULL RETURNING id::text, deleted_at",
            (principal.name, rule_id),
        )
        row = await cur.fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"no rule {rule_id}")
    return Deleted(id=row[0], deleted_at=row[1])
