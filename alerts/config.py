"""The alert configuration as stored: rules, subscriptions, silences (adapter).

:func:`load_config` reads what is in force; :func:`load_subscription` reads one subscription as
it is stored at this moment (delivery checks it at every send, never an in-memory copy). Every
change to these tables bumps ``alert_config_version`` and notifies ``hazgate_alerts`` (migration
0006's triggers), so an evaluator reloads when the version it sees moved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg
from pydantic import ValidationError

from alerts.context import EMPTY_CONTEXT, EngineContext
from alerts.lifecycle import Silence, SilenceMatchers
from alerts.models import Rule, Subscription, parse_rule, parse_subscription
from alerts.partitions import rules_by_partition
from alerts.urlcheck import UrlPolicy
from park.store import current_layouts

logger = logging.getLogger(__name__)


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
    # rules_by_partition(rules): what each partition evaluates (empty until partitioned).
    partitioned: tuple[dict[str, Rule], ...] = ()

    def rules_for(self, part: int) -> dict[str, Rule]:
        return self.partitioned[part] if part < len(self.partitioned) else self.rules


UNLOADED = AlertConfig(version=-1)

_SUBSCRIPTION_SQL = "SELECT id::text, owner_id, tier, body, secret FROM alert_subscriptions"


def config_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT version FROM alert_config_version").fetchone()
    return int(row[0]) if row else 0


def _subscription(row: tuple[str, int, int, dict[str, object], str | None], policy: UrlPolicy) -> StoredSubscription:
    sub_id, owner, tier, body, secret = row
    data = dict(body) if secret is None else {**body, "secret": secret}
    return StoredSubscription(sub_id, owner, tier, parse_subscription(data, url_policy=policy))


def load_config(conn: psycopg.Connection, url_policy: UrlPolicy, partitions: int = 0) -> AlertConfig:
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
    for row in conn.execute(_SUBSCRIPTION_SQL + " WHERE deleted_at IS NULL").fetchall():
        try:
            subs[row[0]] = _subscription(row, url_policy)
        except ValidationError as exc:
            logger.error("subscription %s is refused by the current settings and gets nothing: %s", row[0], exc)
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
    partitioned = tuple(rules_by_partition(rules, partitions)) if partitions else ()
    return AlertConfig(version, rules, subs, silences, load_context(conn), partitioned)


def load_context(conn: psycopg.Connection) -> EngineContext:
    """The current layout of every site and the plate of every tracker mounted on a vehicle."""
    rows = conn.execute("SELECT device_id, plate FROM devices WHERE plate IS NOT NULL AND type = 'gps_tracker'")
    plates: dict[str, str] = {str(device_id): str(plate) for device_id, plate in rows.fetchall()}
    return EngineContext.of(current_layouts(conn), plates)


@dataclass(frozen=True, slots=True)
class SubscriptionNow:
    """One subscription as stored at this moment: ``stored`` when live and valid under this
    process's URL policy; else why not (``deleted`` True: it is gone for good)."""

    stored: StoredSubscription | None
    deleted: bool = False
    problem: str | None = None


def load_subscription(conn: psycopg.Connection, sub_id: str, url_policy: UrlPolicy) -> SubscriptionNow:
    row = conn.execute(
        "SELECT id::text, owner_id, tier, body, secret, deleted_at FROM alert_subscriptions WHERE id = %s", (sub_id,)
    ).fetchone()
    if row is None:
        return SubscriptionNow(None, deleted=True, problem="subscription does not exist")
    if row[5] is not None:
        return SubscriptionNow(None, deleted=True, problem=f"subscription deleted at {row[5].isoformat()}")
    try:
        return SubscriptionNow(_subscription(row[:5], url_policy))
    except ValidationError as exc:
        return SubscriptionNow(None, problem=f"subscription refused by this process's settings: {exc}")
