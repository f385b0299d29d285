"""PostgreSQL persistence of alerting (adapter): configuration, alerts, the evaluation state.

Synchronous psycopg for the alert service's threads. The SQL that writes an alert row and
announces a change (:data:`UPSERT_ALERT`, :func:`alert_params`, :func:`stream_payload`) is shared
with the API, which runs it on its async connections. Tables: migration 0006_alerts.sql.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from alerts.context import EMPTY_CONTEXT, EngineContext
from alerts.lifecycle import Alert, Silence, SilenceMatchers
from alerts.models import Rule, Subscription, parse_rule, parse_subscription
from alerts.payload import alert_body
from alerts.state import EngineState
from alerts.urlcheck import UrlPolicy
from park.store import current_layouts

logger = logging.getLogger(__name__)

# LISTEN channels. hazgate_alerts: "config" (rules, subscriptions, silences changed; sent by the
# migration's triggers) or "alert" (an officer acknowledged or resolved one): the alert service
# runs its timer at once. hazgate_stream: JSON events for the API's live stream (api/stream.py).
ALERTS_CHANNEL: Final = "hazgate_alerts"
STREAM_CHANNEL: Final = "hazgate_stream"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; a larger alert is announced by id.
MAX_NOTIFY_BYTES: Final = 7900


@dataclass(frozen=True, slots=True)
class StoredSubscription:
    """A subscription as the service uses it: the validated body, its owner and tier, the secret."""

    id: str
    owner_id: int
    tier: int
    sub: Subscription


@dataclass(frozen=True, slots=True)
class AlertConfig:
    version: int
    rules: dict[str, Rule] = field(default_factory=dict)
    subscriptions: dict[str, StoredSubscription] = field(default_factory=dict)
    silences: tuple[Silence, ...] = ()
    # Park layouts and trackers' plates, for rules on positions (issue 11).
    context: EngineContext = EMPTY_CONTEXT


@dataclass(frozen=True, slots=True)
class SavedEngine:
    state: EngineState
    watermarks: dict[str, datetime]
    resume_from: datetime


# --- configuration -------------------------------------------------------------------------------


def config_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT version FROM alert_config_version").fetchone()
    return int(row[0]) if row else 0


def load_config(conn: psycopg.Connection, url_policy: UrlPolicy) -> AlertConfig:
    """Enabled rules, live subscriptions, silences not yet over. Bad stored bodies are skipped, loudly."""
    version = config_version(conn)
    rules: dict[str, Rule] = {}
    for rule_id, body in conn.execute(
        "SELECT id::text, body FROM alert_rules WHERE enabled AND deleted_at IS NULL"
    ).fetchall():
        try:
            rules[rule_id] = parse_rule(body)
        except ValidationError as exc:
            logger.error("rule %s cannot be read and is not evaluated: %s", rule_id, exc)
    subs: dict[str, StoredSubscription] = {}
    for sub_id, owner, tier, body, secret in conn.execute(
        "SELECT id::text, owner_id, tier, body, secret FROM alert_subscriptions WHERE deleted_at IS NULL"
    ).fetchall():
        data = dict(body) if secret is None else {**body, "secret": secret}
        try:
            subs[sub_id] = StoredSubscription(sub_id, owner, tier, parse_subscription(data, url_policy=url_policy))
        except ValidationError as exc:
            logger.error("subscription %s is refused by the current settings and gets nothing: %s", sub_id, exc)
    silences = tuple(
        Silence(
            id=sid,
            matchers=SilenceMatchers(site=site, device_id=device_id, rule_id=rule_id),
            starts_at=starts,
            ends_at=ends,
            reason=reason,
            created_by=by,
        )
        for sid, site, device_id, rule_id, starts, ends, reason, by in conn.execute(
            "SELECT id::text, site, device_id, rule_id, starts_at, ends_at, reason, created_by"
            " FROM alert_silences WHERE ends_at > now()"
        ).fetchall()
    )
    return AlertConfig(version, rules, subs, silences, load_context(conn))


def load_context(conn: psycopg.Connection) -> EngineContext:
    """The current layout of every site and the plate of every tracker mounted on a vehicle."""
    rows = conn.execute("SELECT device_id, plate FROM devices WHERE plate IS NOT NULL AND type = 'gps_tracker'")
    plates: dict[str, str] = {str(device_id): str(plate) for device_id, plate in rows.fetchall()}
    return EngineContext.of(current_layouts(conn), plates)


# --- evaluation state ------------------------------------------------------------------------------


def load_engine(conn: psycopg.Connection) -> SavedEngine | None:
    row = conn.execute("SELECT state::text, watermarks, resume_from FROM alert_engine_state").fetchone()
    if row is None:
        return None
    marks = {k: datetime.fromisoformat(v) for k, v in dict(row[1]).items()}
    return SavedEngine(EngineState.from_json(row[0]), marks, row[2])


def save_engine(
    conn: psycopg.Connection, state: EngineState, watermarks: Mapping[str, datetime], resume_from: datetime
) -> None:
    marks = {k: v.isoformat() for k, v in watermarks.items()}
    conn.execute(
        "INSERT INTO alert_engine_state (id, state, watermarks, resume_from, saved_at)"
        " VALUES (true, %s::jsonb, %s, %s, now())"
        " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, watermarks = EXCLUDED.watermarks,"
        " resume_from = EXCLUDED.resume_from, saved_at = EXCLUDED.saved_at",
        (state.to_json(), Jsonb(marks), resume_from),
    )


def registered_devices(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT device_id FROM devices").fetchall()}


# --- alerts ------------------------------------------------------------------------------------------

UPSERT_ALERT: Final = (
    "INSERT INTO alerts (id, fingerprint, rule_id, state, severity, site, device_id, metric, value, count,"
    " started_at, updated_at, acknowledged_by, acknowledged_at, resolved_by, resolved_at, settled, doc)"
    " VALUES (%(id)s, %(fingerprint)s, %(rule_id)s, %(state)s, %(severity)s,"
    " %(site)s, %(device_id)s, %(metric)s, %(value)s, %(count)s, %(started_at)s, %(updated_at)s,"
    " %(acknowledged_by)s, %(acknowledged_at)s, %(resolved_by)s, %(resolved_at)s, %(settled)s, %(doc)s)"
    " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, severity = EXCLUDED.severity, value = EXCLUDED.value,"
    " metric = EXCLUDED.metric, count = EXCLUDED.count, updated_at = EXCLUDED.updated_at,"
    " acknowledged_by = EXCLUDED.acknowledged_by, acknowledged_at = EXCLUDED.acknowledged_at,"
    " resolved_by = EXCLUDED.resolved_by, resolved_at = EXCLUDED.resolved_at, settled = EXCLUDED.settled,"
    " doc = EXCLUDED.doc"
)


def alert_params(alert: Alert, *, settled: bool = False) -> dict[str, Any]:
    """Parameters of :data:`UPSERT_ALERT`: the model whole in ``doc``, the columns beside it."""
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "rule_id": alert.rule_id,
        "state": alert.state,
        "severity": alert.severity.value,
        "site": alert.site,
        "device_id": alert.device_id,
        "metric": alert.metric,
        "value": alert.value,
        "count": alert.count,
        "started_at": alert.started_at,
        "updated_at": alert.updated_at,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at,
        "resolved_by": alert.resolved_by,
        "resolved_at": alert.resolved_at,
        "settled": settled,
        "doc": Jsonb(alert.model_dump(mode="json")),
    }


def alert_from_doc(doc: Mapping[str, Any]) -> Alert:
    return Alert.model_validate(doc)


def lock_open_alerts(conn: psycopg.Connection, fingerprints: Iterable[str]) -> dict[str, Alert]:
    """The open alert of each fingerprint, locked until the transaction ends (officers wait)."""
    rows = conn.execute(
        "SELECT doc FROM alerts WHERE fingerprint = ANY(%s) AND state <> 'resolved' FOR UPDATE",
        (sorted(set(fingerprints)),),
    ).fetchall()
    found = [alert_from_doc(r[0]) for r in rows]
    return {a.fingerprint: a for a in found}


def lock_unsettled(conn: psycopg.Connection) -> list[Alert]:
    """Alerts something may still become due for: open ones, and resolved ones not yet announced."""
    rows = conn.execute("SELECT doc FROM alerts WHERE NOT settled ORDER BY started_at FOR UPDATE").fetchall()
    return [alert_from_doc(r[0]) for r in rows]


def open_fingerprints(conn: psycopg.Connection, fingerprints: Iterable[str]) -> set[str]:
    rows = conn.execute(
        "SELECT fingerprint FROM alerts WHERE fingerprint = ANY(%s) AND state <> 'resolved'",
        (sorted(set(fingerprints)),),
    ).fetchall()
    return {r[0] for r in rows}


def write_alerts(conn: psycopg.Connection, alerts: Iterable[Alert]) -> None:
    """Upsert in an order the one-open-per-fingerprint index accepts: resolved ones first."""
    ordered = sorted(alerts, key=lambda a: a.is_open)
    if ordered:
        with conn.cursor() as cur:
            cur.executemany(UPSERT_ALERT, [alert_params(a) for a in ordered])


def mark_settled(conn: psycopg.Connection, alert_ids: Iterable[str]) -> None:
    ids = sorted(set(alert_ids))
    if ids:
        conn.execute("UPDATE alerts SET settled = true WHERE id = ANY(%s::uuid[])", (ids,))


def stream_payload(alert: Alert, event: str = "alert") -> str:
    """A hazgate_stream NOTIFY payload: the alert body for the live stream, or its id if too large."""
    data = alert_body(alert)
    text = json.dumps({"topic": "alerts", "event": event, "data": data}, separators=(",", ":"), default=str)
    if len(text.encode()) <= MAX_NOTIFY_BYTES:
        return text
    small = {
        k: data[k]
        for k in ("alert_id", "rule_id", "rule", "state", "severity", "site", "device_id", "plate", "zone_id")
    }
    return json.dumps({"topic": "alerts", "event": event, "data": {**small, "truncated": True}})


def notify_stream(conn: psycopg.Connection, alerts: Iterable[Alert]) -> None:
    """Announce changed alerts to live streams; NOTIFY is delivered only if the transaction commits."""
    payloads = [(STREAM_CHANNEL, stream_payload(a)) for a in alerts]
    if payloads:
        with conn.cursor() as cur:
            cur.executemany("SELECT pg_notify(%s, %s)", payloads)
