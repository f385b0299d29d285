"""The alert lifecycle as pure functions: firing → acknowledged → resolved, silences, escalation.

An :class:`Alert` is a frozen record; every function returns a new one. Engine transitions are
folded in with :func:`fold`; officers act through :func:`acknowledge`, :func:`resolve` and
:func:`add_note`. :func:`due_notifications` tells a timer-driven adapter what to put in its
outbox now; every notification has a stable ``delivery_key``, so regenerating after a restart
yields the same keys and the outbox's unique index drops the second copy.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from alerts.engine import Details, Transition
from alerts.errors import AlertStateError
from alerts.models import Severity, Subscription

AlertState = Literal["firing", "acknowledged", "resolved"]
NotificationKind = Literal["firing", "escalation", "repeat", "acknowledged", "resolved"]

SYSTEM_ACTOR: Final = "hazgate"
# Fixed namespaces: ids derived from them must never change between versions.
ALERT_NAMESPACE: Final = uuid.UUID("6f1d3c2e-5a0b-5d7e-9c4f-2b8a1e0d7c31")
DELIVERY_NAMESPACE: Final = uuid.UUID("0c9e4b7a-3f2d-5e81-a6c5-d41b9f82e7a0")

Actor = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HistoryEntry(_Frozen):
    at: AwareDatetime
    who: str
    what: Literal["fired", "acknowledged", "resolved", "note"]
    note: str | None = None


class Alert(_Frozen):
    """One alert: the open one of its fingerprint until resolved."""

    id: str
    fingerprint: str
    rule_id: str
    rule_name: str
    rule_kind: str
    subject: str
    severity: Severity
    state: AlertState = "firing"
    site: str | None = None
    device_id: str | None = None
    device_type: str | None = None
    metric: str | None = None
    value: float | None = None
    summary: str = ""
    details: Details = {}
    started_at: AwareDatetime
    updated_at: AwareDatetime
    count: int = Field(default=1, ge=1)
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: str | None = None
    resolved_at: AwareDatetime | None = None
    resolved_by: str | None = None
    resolve_reason: str | None = None
    history: tuple[HistoryEntry, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.state != "resolved"


def alert_id_for(fingerprint: str, started_at: datetime) -> str:
    """Deterministic alert id: the same fire transition always opens the same alert id."""
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{fingerprint}@{started_at.isoformat()}"))


def open_alert(t: Transition, alert_id: str | None = None) -> Alert:
    if t.kind != "fire":
        raise AlertStateError(f"only a fire transition opens an alert, not {t.kind!r} ({t.fingerprint})")
    return Alert(
        id=alert_id or alert_id_for(t.fingerprint, t.ts),
        fingerprint=t.fingerprint,
        rule_id=t.rule_id,
        rule_name=t.rule_name,
        rule_kind=t.rule_kind,
        subject=t.subject,
        severity=t.severity,
        site=t.site,
        device_id=t.device_id,
        device_type=t.device_type,
        metric=t.metric,
        value=t.value,
        summary=t.summary,
        details=t.details,
        started_at=t.ts,
        updated_at=t.ts,
        history=(HistoryEntry(at=t.ts, who=SYSTEM_ACTOR, what="fired", note=t.summary),),
    )


def apply_transition(alert: Alert, t: Transition) -> Alert:
    """Fold an engine transition into the open alert of its fingerprint.

    fire/update: value, summary, details and ``updated_at`` refresh; a fire or a repeating update
    counts one more occurrence. resolve: the alert is resolved by the system. Updates and
    resolves reaching an alert already resolved by an officer leave it unchanged.
    """
    if t.fingerprint != alert.fingerprint:
        raise AlertStateError(f"transition for {t.fingerprint} applied to alert {alert.id} ({alert.fingerprint})")
    if not alert.is_open:
        if t.kind == "fire":
            raise AlertStateError(f"alert {alert.id} is resolved; a new firing opens a new alert (open_alert)")
        return alert
    if t.kind == "resolve":
        entry = HistoryEntry(at=t.ts, who=SYSTEM_ACTOR, what="resolved", note=t.reason)
        return alert.model_copy(
            update={
                "state": "resolved",
                "updated_at": max(alert.updated_at, t.ts),
                "resolved_at": t.ts,
                "resolved_by": SYSTEM_ACTOR,
                "resolve_reason": t.reason,
                "history": (*alert.history, entry),
            }
        )
    counts = t.kind == "fire" or t.repeat
    return alert.model_copy(
        update={
            "value": t.value if t.value is not None else alert.value,
            "summary": t.summary,
            "details": t.details or alert.details,
            "updated_at": max(alert.updated_at, t.ts),
            "count": alert.count + 1 if counts else alert.count,
        }
    )


def fold(current: Alert | None, t: Transition) -> Alert | None:
    """What the store should hold for ``t.fingerprint`` after ``t``, given its open alert (or None).

    No open alert: a fire opens one; an update or resolve returns None (nothing to change — the
    alert was resolved by hand; call ``engine.release`` then so the pair can fire afresh).
    """
    if current is None or not current.is_open:
        return open_alert(t) if t.kind == "fire" else None
    return apply_transition(current, t)


def acknowledge(alert: Alert, by: str, at: datetime, note: str | None = None) -> Alert:
    """An officer takes the alert: escalation and repeats stop. Acknowledging twice changes nothing."""
    if alert.state == "resolved":
        raise AlertStateError(f"alert {alert.id} is already resolved; there is nothing to acknowledge")
    if alert.state == "acknowledged":
        return alert
    entry = HistoryEntry(at=at, who=by, what="acknowledged", note=note)
    return alert.model_copy(
        update={
            "state": "acknowledged",
            "acknowledged_at": at,
            "acknowledged_by": by,
            "updated_at": max(alert.updated_at, at),
            "history": (*alert.history, entry),
        }
    )


def resolve(alert: Alert, by: str, at: datetime, note: str | None = None) -> Alert:
    """An officer closes the alert. Resolving twice changes nothing.

    The adapter must also call ``engine.release(state, alert.rule_id, alert.subject)``, or the
    engine keeps the pair firing and would not open a new alert while the condition lasts.
    """
    if alert.state == "resolved":
        return alert
    entry = HistoryEntry(at=at, who=by, what="resolved", note=note)
    return alert.model_copy(
        update={
            "state": "resolved",
            "resolved_at": at,
            "resolved_by": by,
            "resolve_reason": "manual",
            "updated_at": max(alert.updated_at, at),
            "history": (*alert.history, entry),
        }
    )


def add_note(alert: Alert, by: str, at: datetime, note: str) -> Alert:
    entry = HistoryEntry(at=at, who=by, what="note", note=note)
    return alert.model_copy(update={"history": (*alert.history, entry)})


# --- silences ------------------------------------------------------------------------------------


class SilenceMatchers(_Frozen):
    """Every matcher given must equal the alert's attribute; at least one must be given."""

    site: str | None = None
    device_id: str | None = None
    rule_id: str | None = None

    @model_validator(mode="after")
    def _not_everything(self) -> SilenceMatchers:
        if self.site is None and self.device_id is None and self.rule_id is None:
            raise ValueError("a silence must name a site, a device_id or a rule_id; it may not silence everything")
        return self

    def matches(self, alert: Alert) -> bool:
        return (
            (self.site is None or self.site == alert.site)
            and (self.device_id is None or self.device_id == alert.device_id)
            and (self.rule_id is None or self.rule_id == alert.rule_id)
        )


class Silence(_Frozen):
    """A maintenance window: matching alerts are still recorded, their notifications held back."""

    matchers: SilenceMatchers
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: Text
    created_by: Actor
    id: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise ValueError(f"ends_at {self.ends_at.isoformat()} must be after starts_at {self.starts_at.isoformat()}")
        return self

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def silences(self, alert: Alert, at: datetime) -> bool:
        return self.active(at) and self.matchers.matches(alert)


def is_silenced(alert: Alert, silences: Iterable[Silence], at: datetime) -> bool:
    return any(s.silences(alert, at) for s in silences)


# --- escalation and notifications ----------------------------------------------------------------


class Tier(_Frozen):
    """``after_s`` seconds after the firing notification, still unacknowledged: notify ``targets``."""

    after_s: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    targets: tuple[str, ...] = Field(min_length=1)


class EscalationPolicy(_Frozen):
    """Tiers in increasing ``after_s``; repeats every ``repeat_interval_s`` while firing and unacknowledged."""

    tiers: tuple[Tier, ...] = ()
    repeat_interval_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    notify_acknowledged: bool = False

    @model_validator(mode="after")
    def _increasing(self) -> EscalationPolicy:
        after = [t.after_s for t in self.tiers]
        if any(b <= a for a, b in itertools.pairwise(after)):
            raise ValueError(f"tiers must have strictly increasing after_s, got {after}")
        return self


NO_ESCALATION: Final = EscalationPolicy()


class Notification(_Frozen):
    """One message about one alert, to every subscription that :func:`recipients` names.

    ``tier`` is 0 for the default route and n for the n-th escalation tier; ``sequence`` numbers
    repeats from 1. ``to_matching``: every subscription whose filters accept the alert;
    ``targets``: subscription ids named by the escalation tiers reached.
    """

    alert_id: str
    kind: NotificationKind
    tier: int = 0
    sequence: int = 0
    delivery_key: str
    to_matching: bool
    targets: tuple[str, ...] = ()


def delivery_key(alert_id: str, kind: NotificationKind, tier: int = 0, sequence: int = 0) -> str:
    return f"{alert_id}/{kind}/{tier}/{sequence}"


def _kind_of(key: str) -> str:
    return key.rsplit("/", 3)[1]


def delivery_id(key: str, subscription_id: str) -> str:
    """The ``X-Hazgate-Delivery`` UUID of one notification to one subscription, the same on every retry."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{key}|{subscription_id}"))


def _note(
    alert: Alert, kind: NotificationKind, to_matching: bool, targets: tuple[str, ...], tier: int = 0, seq: int = 0
) -> Notification:
    return Notification(
        alert_id=alert.id,
        kind=kind,
        tier=tier,
        sequence=seq,
        delivery_key=delivery_key(alert.id, kind, tier, seq),
        to_matching=to_matching,
        targets=targets,
    )


def due_notifications(
    alert: Alert,
    policy: EscalationPolicy,
    silences: Iterable[Silence],
    now: datetime,
    already_sent: Mapping[str, datetime],
) -> list[Notification]:
    """The notifications of ``alert`` that must go out at ``now``.

    ``already_sent`` maps the delivery keys already queued (the outbox) to when they were queued.
    Rules, in order:

    - While a matching silence is active nothing is due; what was held becomes due when it ends.
    - ``firing`` once, to the default route, as long as the alert is open (an acknowledged alert
      not yet announced is announced in its acknowledged state).
    - While ``firing`` (not acknowledged): escalation tier n when ``after_s`` has passed since the
      firing notification was queued; a ``repeat`` every ``repeat_interval_s`` after the latest
      firing/escalation/repeat, at most one per call, numbered 1, 2, ...
    - ``acknowledged`` (if the policy asks) and ``resolved`` once each, only for alerts whose
      firing went out: nobody is told of the end of an alert they never heard of.
    - Repeats, acknowledged and resolved go to the default route and to every tier reached.
    """
    if is_silenced(alert, silences, now):
        return []
    own = {k: at for k, at in already_sent.items() if k.startswith(f"{alert.id}/")}
    firing_key = delivery_key(alert.id, "firing")
    firing_at = own.get(firing_key)
    out: list[Notification] = []
    if firing_at is None:
        if not alert.is_open:
            return []
        out.append(_note(alert, "firing", True, ()))
    anchor = firing_at or now

    reached = [i for i in range(1, len(policy.tiers) + 1) if delivery_key(alert.id, "escalation", i) in own]
    if alert.state == "firing":
        for i, tier in enumerate(policy.tiers, start=1):
            if i not in reached and now >= anchor + timedelta(seconds=tier.after_s):
                out.append(_note(alert, "escalation", False, tier.targets, tier=i))
                reached.append(i)
    told = tuple(dict.fromkeys(t for i in sorted(reached) for t in policy.tiers[i - 1].targets))

    if firing_at is None:
        return out
    if alert.state == "firing" and policy.repeat_interval_s is not None:
        seq = 1
        while delivery_key(alert.id, "repeat", 0, seq) in own:
            seq += 1
        latest = max(at for k, at in own.items() if _kind_of(k) in ("firing", "escalation", "repeat"))
        if now >= latest + timedelta(seconds=policy.repeat_interval_s) and not any(n.kind == "escalation" for n in out):
            out.append(_note(alert, "repeat", True, told, seq=seq))
    elif alert.state == "acknowledged" and policy.notify_acknowledged:
        if delivery_key(alert.id, "acknowledged") not in own:
            out.append(_note(alert, "acknowledged", True, told))
    elif alert.state == "resolved" and delivery_key(alert.id, "resolved") not in own:
        out.append(_note(alert, "resolved", True, told))
    return out


def recipients(notification: Notification, alert: Alert, subscriptions: Mapping[str, Subscription]) -> list[str]:
    """Subscription ids to deliver ``notification`` to, sorted.

    Default route: every subscription whose filters (min_severity, site, device_type) accept the
    alert. Escalation targets are named on purpose and bypass the filters; ids of subscriptions
    that no longer exist are skipped.
    """
    chosen = {sid for sid in notification.targets if sid in subscriptions}
    if notification.to_matching:
        chosen |= {
            sid for sid, sub in subscriptions.items() if sub.accepts(alert.severity, alert.site, alert.device_type)
        }
    return sorted(chosen)
