"""Adapters: one site's records of one month, from hazgate's tables (sync psycopg).

The month runs from the first day 00:00 to the next month's first day 00:00 in the park's time
zone. Sources:

- :func:`inspections`: decided gate inspections (pass, fail, review) and their overrides; the
  driver is the one whose ID card was read at the gate, the carrier the vehicle's in the registry;
- :func:`alerts`: alerts that started in the month; the vehicle is the device's (``--plate``),
  the dwell rule's subject or the plate the alert names; the driver on duty is the driver of the
  vehicle's last passed entry before the alert;
- :func:`position_violations`: the position rules' alerts (zone, speeding, stop, off_route),
  which the index counts with the position-violation points instead of an alert's;
- :func:`refused_bookings`: bookings refused in the month (by the time they were refused), the
  driver the booking named, else its waybill's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import psycopg

from alerts.models import POSITION_RULE_KINDS
from risk.errors import RiskError
from risk.index import (
    AlertRecord,
    FailedReason,
    InspectionRecord,
    MonthRecords,
    Parties,
    PositionViolation,
    RefusedBooking,
)

_MONTH: Final = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_window(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of ``YYYY-MM`` in the park's time zone."""
    match = _MONTH.match(month)
    if match is None:
        raise RiskError(f"month {month!r} is not YYYY-MM", hint="e.g. --month 2026-05")
    year, mon = int(match.group(1)), int(match.group(2))
    if not 2000 <= year <= 2199:
        raise RiskError(f"month {month!r} is not a month hazgate can have records of", hint="use a year 2000-2199")
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=tz)
    return start, end


def _failed_reasons(checks: Any) -> tuple[FailedReason, ...]:
    out = []
    for check in checks if isinstance(checks, list) else []:
        for reason in check.get("reasons") or []:
            if reason.get("status") == "fail":
                out.append(
                    FailedReason(
                        check=str(check.get("code")),
                        code=str(reason.get("code")),
                        message=str(reason.get("message") or ""),
                    )
                )
    return tuple(out)


def inspections(conn: psycopg.Connection, site: str, start: datetime, end: datetime) -> list[InspectionRecord]:
    rows = conn.execute(
        "SELECT i.id::text, i.opened_at, i.gate_id, i.plate, v.carrier_id,"
        " i.inputs->'id_cards'->'driver'->>'id_number', i.result, i.checks,"
        " i.override_result, i.override_by, i.override_reason"
        " FROM inspections i LEFT JOIN vehicles v ON v.plate = i.plate"
        " WHERE i.site = %s AND i.opened_at >= %s AND i.opened_at < %s AND i.result IN ('pass', 'fail', 'review')"
        " ORDER BY i.opened_at, i.id",
        (site, start, end),
    ).fetchall()
    return [
        InspectionRecord(
            id=r[0],
            at=r[1],
            gate_id=r[2],
            parties=Parties(plate=r[3], carrier_id=r[4], driver_id=r[5]),
            result=r[6],
            reasons=_failed_reasons(r[7]),
            override_result=r[8],
            override_by=r[9],
            override_reason=r[10],
        )
        for r in rows
    ]


def alerts(conn: psycopg.Connection, site: str, start: datetime, end: datetime) -> list[AlertRecord]:
    """Every alert of the month (the report counts them all; the index takes position rules'
    alerts as position violations, risk/index.py)."""
    rows = conn.execute(
        "SELECT a.id::text, a.started_at, a.doc->>'rule_kind', a.doc->>'rule_name', a.severity, a.device_id,"
        " a.doc->>'summary', a.acknowledged_at,"
        " coalesce(d.plate, a.doc->'details'->>'plate',"
        "          CASE WHEN a.doc->>'rule_kind' = 'dwell' THEN a.doc->>'subject' END),"
        " a.doc->'details'->>'zone_id'"
        " FROM alerts a LEFT JOIN devices d ON d.device_id = a.device_id"
        " WHERE a.site = %s AND a.started_at >= %s AND a.started_at < %s ORDER BY a.started_at, a.id",
        (site, start, end),
    ).fetchall()
    plates = sorted({r[8] for r in rows if r[8]})
    carriers: dict[str, str] = {}
    if plates:
        found = conn.execute("SELECT plate, carrier_id FROM vehicles WHERE plate = ANY(%s)", (plates,)).fetchall()
        carriers = {plate: carrier for plate, carrier in found}
    out = []
    for r in rows:
        plate = r[8]
        out.append(
            AlertRecord(
                id=r[0],
                at=r[1],
                rule_kind=r[2] or "?",
                rule=r[3] or "",
                severity=r[4],
                device_id=r[5],
                summary=r[6] or "",
                acknowledged_at=r[7],
                zone_id=r[9],
                parties=Parties(
                    plate=plate,
                    carrier_id=carriers.get(plate),
                    driver_id=driver_on_duty(conn, plate, r[1]) if plate else None,
                ),
            )
        )
    return out


def driver_on_duty(conn: psycopg.Connection, plate: str, at: datetime) -> str | None:
    """The driver of the vehicle's last passed entry at or before ``at``."""
    row = conn.execute(
        "SELECT inputs->'id_cards'->'driver'->>'id_number' FROM inspections WHERE plate = %s AND opened_at <= %s"
        " AND coalesce(override_result, result) = 'pass' ORDER BY opened_at DESC LIMIT 1",
        (plate, at),
    ).fetchone()
    return row[0] if row and row[0] else None


def position_violations(month_alerts: Sequence[AlertRecord]) -> list[PositionViolation]:
    """Position rules broken in the month, from its alerts: each alert of a position rule is one
    violation (a tanker speeding for ten minutes raised one alert, not six hundred readings)."""
    return [
        PositionViolation(id=a.id, at=a.at, kind=a.rule_kind, zone_id=a.zone_id, parties=a.parties)
        for a in month_alerts
        if a.rule_kind in POSITION_RULE_KINDS
    ]


def refused_bookings(conn: psycopg.Connection, site: str, start: datetime, end: datetime) -> list[RefusedBooking]:
    """Bookings refused in the month, at the time they were refused (``booking_audit``; the
    booking's last change when it has no audit row)."""
    rows = conn.execute(
        "SELECT b.id::text, coalesce(a.at, b.updated_at) AS at, coalesce(b.reason, ''), b.plate, v.carrier_id,"
        " coalesce(b.driver_id, w.record->>'driver_id')"
        " FROM bookings b LEFT JOIN vehicles v ON v.plate = b.plate"
        " LEFT JOIN waybills w ON w.waybill_no = b.waybill_no"
        " LEFT JOIN LATERAL (SELECT min(at) AS at FROM booking_audit WHERE booking_id = b.id AND action = 'refuse') a"
        "   ON true"
        " WHERE b.site = %s AND b.state = 'refused' AND coalesce(a.at, b.updated_at) >= %s"
        " AND coalesce(a.at, b.updated_at) < %s ORDER BY at, b.id",
        (site, start, end),
    ).fetchall()
    return [
        RefusedBooking(id=r[0], at=r[1], reason=r[2], parties=Parties(plate=r[3], carrier_id=r[4], driver_id=r[5]))
        for r in rows
    ]


def names(conn: psycopg.Connection, records: MonthRecords) -> dict[str, str]:
    carriers: set[str] = set()
    people: set[str] = set()
    parties = [
        *(i.parties for i in records.inspections),
        *(a.parties for a in records.alerts),
        *(v.parties for v in records.position_violations),
        *(b.parties for b in records.refused_bookings),
    ]
    for p in parties:
        if p.carrier_id:
            carriers.add(p.carrier_id)
        if p.driver_id:
            people.add(p.driver_id)
    out: dict[str, str] = {}
    if carriers:
        for cid, name in conn.execute(
            "SELECT id, record->>'name' FROM carriers WHERE id = ANY(%s)", (sorted(carriers),)
        ).fetchall():
            out[f"carrier:{cid}"] = name
    if people:
        for pid, name in conn.execute(
            "SELECT id_number, record->>'name' FROM personnel WHERE id_number = ANY(%s)", (sorted(people),)
        ).fetchall():
            out[f"driver:{pid}"] = name
    return out


def month_records(conn: psycopg.Connection, site: str, month: str, tz: ZoneInfo) -> MonthRecords:
    start, end = month_window(month, tz)
    month_alerts = alerts(conn, site, start, end)
    records = MonthRecords(
        site=site,
        month=month,
        inspections=tuple(inspections(conn, site, start, end)),
        alerts=tuple(month_alerts),
        position_violations=tuple(position_violations(month_alerts)),
        refused_bookings=tuple(refused_bookings(conn, site, start, end)),
    )
    return records.model_copy(update={"names": names(conn, records)})
