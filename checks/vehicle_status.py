"""hazgate's sixth check: the vehicle is being monitored and nothing on it is alarming — no open
critical alert on its devices, and its GPS tracker (when it has one) reported recently."""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue

from checks.common import Findings
from checks.facts import GateFacts, MissingInput
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult, CheckStatus


def _silence_zh(last: datetime | None, silent_s: float | None, policy: CheckPolicy) -> str:
    if last is None or silent_s is None:
        return "从未上报位置"
    limit_min = policy.gps_max_silence_s / 60
    return f"已{silent_s / 60:.0f}分钟未上报位置（最后上报于{policy.local_time(last)}，限{limit_min:g}分钟）"


def _silence_en(last: datetime | None, silent_s: float | None, policy: CheckPolicy) -> str:
    if last is None or silent_s is None:
        return "has never reported"
    limit_min = policy.gps_max_silence_s / 60
    return (
        f"has not reported for {silent_s / 60:.0f} minutes "
        f"(last at {policy.local_time(last)}; the limit is {limit_min:g} minutes)"
    )


def check(facts: GateFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    policy.local_date(now)  # refuses a naive `now`
    found = Findings(CheckCode.VEHICLE_STATUS)
    status = facts.vehicle_status
    if status is None:
        found.wait(MissingInput.VEHICLE_STATUS, ReasonCode.VEHICLE_STATUS_MISSING)
        return found.result()
    plate = facts.plate.plate if facts.plate is not None else "?"
    alerts: list[JsonValue] = []
    for alert in status.open_critical_alerts:
        alerts.append({"alert_id": alert.alert_id, "device_id": alert.device_id, "metric": alert.metric})
        found.add(
            ReasonCode.CRITICAL_ALERT_OPEN,
            CheckStatus.FAIL,
            plate=plate,
            device_id=alert.device_id,
            metric=alert.metric,
            value="?" if alert.value is None else f"{alert.value:g}",
            started_at=policy.local_time(alert.started_at),
        )
    found.evidence["open_critical_alerts"] = alerts
    tracker = status.gps_tracker
    found.evidence["gps_tracker"] = None if tracker is None else tracker.device_id
    if tracker is None:
        return found.result()
    last = tracker.last_report_at
    found.evidence["gps_last_report_at"] = None if last is None else last.isoformat()
    silent_s = None if last is None else (now - last).total_seconds()
    if silent_s is None or silent_s > policy.gps_max_silence_s:
        found.add(
            ReasonCode.GPS_SILENT,
            CheckStatus.FAIL,
            plate=plate,
            device_id=tracker.device_id,
            silence_zh=_silence_zh(last, silent_s, policy),
            silence_en=_silence_en(last, silent_s, policy),
        )
    return found.result()
