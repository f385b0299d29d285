"""Queueing notifications into the outbox, inside the caller's transaction (adapter).

The core decides *what* is due (``lifecycle.due_notifications``) and *to whom*
(``lifecycle.recipients``); this module writes one ``alert_notifications`` row per notification and
one ``alert_outbox`` row per subscription, with the exact signed bytes. The unique keys make a
repeat of the same decision (a replay after a restart) insert nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

import psycopg

from alerts.config import AlertConfig, StoredSubscription
from alerts.lifecycle import (
    Alert,
    EscalationPolicy,
    Notification,
    Tier,
    delivery_id,
    delivery_key,
    due_notifications,
)
from alerts.payload import alert_body, encode_body
from hazgate.settings import AlertsSettings

# A Tier needs at least one target, but a tier may have no subscription yet. This id matches
# none, so the tier still counts as reached (its delivery key is recorded) and reaches nobody.
NO_TARGET: Final = "-"
# Live-stream subscriptions are served by the API's broadcaster from NOTIFY, not the outbox.
LIVE_CHANNELS: Final = frozenset({"stream"})


def _accepts(s: StoredSubscription, alert: Alert) -> bool:
    return s.sub.channel not in LIVE_CHANNELS and s.sub.accepts(alert.severity, alert.site, alert.device_type)


def escalation_policy(alert: Alert, subs: Mapping[str, StoredSubscription], cfg: AlertsSettings) -> EscalationPolicy:
    """Tier n: the subscriptions with ``tier`` n whose filters accept this alert."""
    tiers = []
    for n, after_s in enumerate(cfg.escalation_after_s, start=1):
        targets = tuple(sorted(sid for sid, s in subs.items() if s.tier == n and _accepts(s, alert)))
        tiers.append(Tier(after_s=after_s, targets=targets or (NO_TARGET,)))
    return EscalationPolicy(
        tiers=tuple(tiers), repeat_interval_s=cfg.repeat_interval_s, notify_acknowledged=cfg.notify_acknowledged
    )


def recipients_of(note: Notification, alert: Alert, subs: Mapping[str, StoredSubscription]) -> list[str]:
    """Default route: tier-0 subscriptions accepting the alert; plus the escalation targets named."""
    chosen = {sid for sid in note.targets if sid in subs and subs[sid].sub.channel not in LIVE_CHANNELS}
    if note.to_matching:
        chosen |= {sid for sid, s in subs.items() if s.tier == 0 and _accepts(s, alert)}
    return sorted(chosen)


def _response(
    conn: psycopg.Connection, alert: Alert, note: Notification, cfg: AlertsSettings
) -> dict[str, object] | None:
    """The response card a critical notification carries (emergency/notify.py), if any."""
    if not cfg.response_cards or cfg.site_for is None:
        return None
    from emergency.notify import critical_response  # emergency imports alerts: import when used

    return critical_response(conn, alert, note.kind, cfg.site_for)


def already_sent(conn: psycopg.Connection, alert_ids: Iterable[str]) -> dict[str, dict[str, datetime]]:
    out: dict[str, dict[str, datetime]] = defaultdict(dict)
    ids = sorted(set(alert_ids))
    if ids:
        for alert_id, key, at in conn.execute(
            "SELECT alert_id::text, delivery_key, queued_at FROM alert_notifications WHERE alert_id = ANY(%s::uuid[])",
            (ids,),
        ).fetchall():
            out[alert_id][key] = at
    return out


def settled(alert: Alert, sent: Mapping[str, datetime]) -> bool:
    """Nothing more can become due: resolved, and its end announced (or its start never was)."""
    if alert.is_open:
        return False
    return delivery_key(alert.id, "firing") not in sent or delivery_key(alert.id, "resolved") in sent


def queue_due(
    conn: psycopg.Connection, alerts: Iterable[Alert], config: AlertConfig, cfg: AlertsSettings, now: datetime
) -> tuple[int, list[str]]:
    """Queue whatever is due for ``alerts`` at ``now``; return (outbox rows added, ids now settled)."""
    alerts = list(alerts)
    sent = already_sent(conn, (a.id for a in alerts))
    notes: list[tuple[str, str, str, datetime]] = []
    rows: list[tuple[str, str, str, str, str, bytes]] = []
    done: list[str] = []
    for alert in alerts:
        own = sent[alert.id]
        policy = escalation_policy(alert, config.subscriptions, cfg)
        for note in due_notifications(alert, policy, config.silences, now, own):
            own[note.delivery_key] = now
            notes.append((note.delivery_key, alert.id, note.kind, now))
            payload = encode_body(alert_body(alert, note, response=_response(conn, alert, note, cfg)))
            for sid in recipients_of(note, alert, config.subscriptions):
                channel = config.subscriptions[sid].sub.channel
                rows.append((delivery_id(note.delivery_key, sid), note.delivery_key, sid, alert.id, channel, payload))
        if settled(alert, own):
            done.append(alert.id)
    with conn.cursor() as cur:
        if notes:
            cur.executemany(
                "INSERT INTO alert_notifications (delivery_key, alert_id, kind, queued_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (delivery_key) DO NOTHING",
                notes,
            )
        if rows:
            cur.executemany(
                "INSERT INTO alert_outbox (delivery_id, delivery_key, subscription_id, alert_id, channel, payload)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (delivery_key, subscription_id) DO NOTHING",
                rows,
            )
    return len(rows), done
