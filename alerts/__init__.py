"""The pure core of alerting: rules, evaluation, lifecycle and payloads. No I/O.

- ``alerts.models``: rule and subscription definitions (validated JSON bodies).
- ``alerts.events``: the typed input events adapters build from MQTT and gate decisions.
- ``alerts.engine``: ``evaluate(rules, state, event) -> (state, transitions)``.
- ``alerts.state``: the serializable evaluation state and alert fingerprints.
- ``alerts.lifecycle``: alerts, acknowledgement, silences, escalation, due notifications.
- ``alerts.payload``: the alert body, webhook signatures, retry backoff.
- ``alerts.urlcheck``: which webhook targets are refused.

Adapters (database outbox, webhook sender, MQTT publisher) live outside and call these.
See docs/alerts.md.
"""

from __future__ import annotations

from alerts.engine import Transition, evaluate, evaluate_all, release
from alerts.errors import AlertsError, AlertStateError, StateFormatError, UnsafeUrlError
from alerts.events import DeviceStatus, Event, InspectionFailed, Reading, Tick, VehicleEntered, VehicleLeft
from alerts.lifecycle import (
    Alert,
    EscalationPolicy,
    Notification,
    Silence,
    SilenceMatchers,
    Tier,
    acknowledge,
    add_note,
    apply_transition,
    due_notifications,
    fold,
    open_alert,
    recipients,
    resolve,
)
from alerts.models import (
    AbsenceRule,
    DwellRule,
    FlagRule,
    GateFailureRule,
    RateRule,
    Rule,
    Severity,
    Subscription,
    ThresholdRule,
    parse_rule,
    parse_subscription,
)
from alerts.payload import alert_body, encode_body, next_attempt_delay_s, sign, verify_signature
from alerts.state import EngineState, fingerprint
from alerts.urlcheck import UrlPolicy, check_address, check_webhook_url

__all__ = [
    "AbsenceRule",
    "Alert",
    "AlertStateError",
    "AlertsError",
    "DeviceStatus",
    "DwellRule",
    "EngineState",
    "EscalationPolicy",
    "Event",
    "FlagRule",
    "GateFailureRule",
    "InspectionFailed",
    "Notification",
    "RateRule",
    "Reading",
    "Rule",
    "Severity",
    "Silence",
    "SilenceMatchers",
    "StateFormatError",
    "Subscription",
    "ThresholdRule",
    "Tick",
    "Tier",
    "Transition",
    "UnsafeUrlError",
    "UrlPolicy",
    "VehicleEntered",
    "VehicleLeft",
    "acknowledge",
    "add_note",
    "alert_body",
    "apply_transition",
    "check_address",
    "check_webhook_url",
    "due_notifications",
    "encode_body",
    "evaluate",
    "evaluate_all",
    "fingerprint",
    "fold",
    "next_attempt_delay_s",
    "open_alert",
    "parse_rule",
    "parse_subscription",
    "recipients",
    "release",
    "resolve",
    "sign",
    "verify_signature",
]
