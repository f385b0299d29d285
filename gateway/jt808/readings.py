"""Location reports → readings of the provisioned device, through the same checks as MQTT. Pure.

A report becomes one reading: ``lat``, ``lon``, ``speed_kmh``, ``heading_deg``, ``altitude_m``
(only with a satellite fix, status bit 1: without one they are stale or zero and would put
the truck at 0°N 0°E), ``alarm_flags`` always, ``mileage_km`` where extra item 0x01 is sent.
Its time is the report's own (BCD, GMT+8) and its ``seq`` is that time in Unix seconds, so the
same terminal resending the same report is not a second reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from devices.types import metrics_for
from gateway.jt808.protocol import Location
from gateway.validate import MAX_CLOCK_SKEW_S, KnownDevice, Rejection, RejectReason, Row, reading_problem

SOURCE = "jt808"


def reading_values(location: Location) -> dict[str, float]:
    values: dict[str, float] = {"alarm_flags": float(location.alarm)}
    if location.positioned:
        values.update(
            lat=location.lat,
            lon=location.lon,
            speed_kmh=location.speed_kmh,
            heading_deg=float(location.heading_deg),
            altitude_m=float(location.altitude_m),
        )
    mileage = location.mileage_km
    if mileage is not None:
        values["mileage_km"] = mileage
    return values


def report_seq(ts: datetime) -> int:
    """The reading's ``seq``: its report time in Unix seconds (one report per second at most)."""
    return int(ts.timestamp())


def refusal(reason: RejectReason, detail: str, address: str, device_id: str | None, frame: bytes = b"") -> Rejection:
    """A JT/T 808 refusal. ``address`` names the terminal and message (``jt808/PHONE/0x0200``)
    and goes where an MQTT refusal has its topic; the excerpt is the frame in hex."""
    return Rejection(reason, detail, address, device_id, frame[:256].hex(), len(frame), SOURCE)


def location_rows(
    device: KnownDevice,
    locations: Sequence[Location],
    *,
    address: str,
    frame: bytes,
    now: datetime,
) -> tuple[list[Row], list[Rejection]]:
    """The readings of ``locations`` for ``device`` and a refusal for each that cannot be one."""
    if not device.enabled:
        detail = f"device {device.device_id!r} is disabled"
        return [], [refusal(RejectReason.DEVICE_DISABLED, detail, address, device.device_id, frame)]
    metrics = metrics_for(device.type)
    latest_ok = now + timedelta(seconds=MAX_CLOCK_SKEW_S)
    rows: list[Row] = []
    refused: list[Rejection] = []
    for k, location in enumerate(locations):
        ts = location.time
        if ts is None:
            detail = f"report {k + 1}: time {location.time_bcd.hex()} is not a BCD date YYMMDDhhmmss"
            refused.append(refusal(RejectReason.BAD_TIME, detail, address, device.device_id, frame))
            continue
        seq = report_seq(ts)
        values = reading_values(location)
        problem = reading_problem(seq, ts, values, metrics, latest_ok)
        if problem is not None:
            reason, detail = problem
            refused.append(refusal(reason, f"report {k + 1}: {detail}", address, device.device_id, frame))
            continue
        rows.append(Row(ts, ts.isoformat(), device.device_id, seq, device.site, values))
    return rows, refused
