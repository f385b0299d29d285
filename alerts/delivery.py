"""Delivery workers (adapter): take due rows from the outbox, send them, record the outcome.

A row is claimed by pushing its ``next_attempt_at`` past the send timeout (a lease) in one
``UPDATE ... FOR UPDATE SKIP LOCKED``, so several workers and several processes never send the
same row at once, and a worker that dies mid-send leaves the row due again. The row is sent with
its subscription **as stored at that moment** (read by id after the claim), never an in-memory
copy that may not be loaded yet: any process delivers correctly from its first second. Only a
subscription deleted for good gives its rows up; one this process's settings refuse is retried.
A row is marked delivered only after the receiver accepted it; a failure schedules the next try
with the core's backoff. Hence at least once: a receiver de-duplicates by ``X-Hazgate-Delivery``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Final

import psycopg

from alerts.channels import DeliveryError, MqttPublisher, SmtpSender, WebhookSender, send
from alerts.config import load_subscription
from alerts.payload import Backoff, next_attempt_delay_s
from alerts.urlcheck import UrlPolicy
from hazgate.settings import Settings

logger = logging.getLogger(__name__)

# An idle worker looks at the outbox this often even when nobody wakes it: retries are
# scheduled seconds apart, and rows queued by another process wake nobody here.
IDLE_POLL_S: Final = 1.0
# The lease covers the send timeout plus slack for a slow database round trip after it.
LEASE_SLACK_S: Final = 10.0
RECONNECT_MAX_S: Final = 10.0

# The oldest due row whose alert has nothing earlier pending for the same subscription, so a
# receiver hears "firing" before "resolved" even when both were queued in one transaction.
CLAIM_SQL: Final = (
    "UPDATE alert_outbox o SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => %(lease)s)"
    " WHERE o.id = (SELECT c.id FROM alert_outbox c WHERE c.delivered_at IS NULL AND c.gave_up_at IS NULL"
    "   AND c.next_attempt_at <= now() AND NOT EXISTS (SELECT 1 FROM alert_outbox e"
    "     WHERE e.alert_id = c.alert_id AND e.subscription_id = c.subscription_id AND e.id < c.id"
    "     AND e.delivered_at IS NULL AND e.gave_up_at IS NULL)"
    "   ORDER BY c.next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING o.id, o.delivery_id::text, o.subscription_id::text, o.payload, o.attempts"
)


@dataclass
class DeliveryStats:
    delivered: int = 0
    failed: int = 0
    abandoned: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class _Claimed:
    row_id: int
    delivery_id: str
    subscription_id: str
    payload: bytes
    attempts: int


class DeliveryWorkers:
    """``count`` threads draining the outbox; :meth:`wake` after queueing for prompt delivery."""

    def __init__(self, settings: Settings, policy: UrlPolicy) -> None:
        cfg = settings.alerts
        self.conninfo = settings.db_url
        self.policy = policy
        self.timeout_s = cfg.webhook_timeout_s
        self.backoff = Backoff(base_s=cfg.retry_base_s, cap_s=max(cfg.retry_base_s, cfg.retry_max_s))
        self.mqtt = MqttPublisher(settings, cfg.webhook_timeout_s)
        self.smtp = SmtpSender(settings, cfg.webhook_timeout_s)
        self.stats = DeliveryStats()
        self._stats_lock = threading.Lock()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._signals = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"hazgate-delivery-{i}", daemon=True)
            for i in range(cfg.delivery_workers)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self.wake()
        for t in self._threads:
            t.join(timeout_s)
        self.mqtt.close()

    def wake(self) -> None:
        with self._cond:
            self._signals += 1
            self._cond.notify_all()

    def _wait(self, seen: int) -> int:
        with self._cond:
            if self._signals == seen and not self._stop.is_set():
                self._cond.wait(IDLE_POLL_S)
            return self._signals

    def _run(self) -> None:
        webhook = WebhookSender(self.policy, self.timeout_s)
        delay = 0.5
        seen = 0
        try:
            while not self._stop.is_set():
                try:
                    with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                        delay = 0.5
                        while not self._stop.is_set():
                            with self._cond:
                                seen = self._signals
                            if not self._deliver_one(conn, webhook):
                                seen = self._wait(seen)
                except psycopg.Error as exc:
                    logger.warning("alert delivery: database unavailable (%s); retrying in %.1f s", exc, delay)
                    self._stop.wait(delay)
                    delay = min(delay * 2, RECONNECT_MAX_S)
        finally:
            webhook.close()

    def _deliver_one(self, conn: psycopg.Connection, webhook: WebhookSender) -> bool:
        """Claim and send one due row; False when none is due."""
        row = conn.execute(CLAIM_SQL, {"lease": self.timeout_s + LEASE_SLACK_S}).fetchone()
        if row is None:
            return False
        job = _Claimed(int(row[0]), row[1], row[2], bytes(row[3]), int(row[4]))
        now = load_subscription(conn, job.subscription_id, self.policy)
        if now.deleted:
            conn.execute(
                "UPDATE alert_outbox SET gave_up_at = now(), last_error = %s WHERE id = %s", (now.problem, job.row_id)
            )
            self._count(abandoned=1)
            return True
        if now.stored is None:
            self._retry(conn, job, now.problem or "subscription unusable")
            return True
        stored = now.stored
        try:
            send(stored.sub, job.payload, job.delivery_id, webhook=webhook, mqtt_publisher=self.mqtt, smtp=self.smtp)
        except DeliveryError as exc:
            self._retry(conn, job, str(exc))
            return True
        conn.execute("UPDATE alert_outbox SET delivered_at = now(), last_error = NULL WHERE id = %s", (job.row_id,))
        self._count(delivered=1)
        return True

    def _retry(self, conn: psycopg.Connection, job: _Claimed, error: str) -> None:
        delay_s = next_attempt_delay_s(job.attempts, job.delivery_id, self.backoff)
        logger.warning(
            "delivery %s (attempt %d) failed: %s; next try in %.1f s", job.delivery_id, job.attempts, error, delay_s
        )
        conn.execute(
            "UPDATE alert_outbox SET next_attempt_at = now() + make_interval(secs => %s), last_error = %s"
            " WHERE id = %s",
            (delay_s, error[:2000], job.row_id),
        )
        self._count(failed=1, error=error)

    def _count(self, *, delivered: int = 0, failed: int = 0, abandoned: int = 0, error: str | None = None) -> None:
        with self._stats_lock:
            self.stats.delivered += delivered
            self.stats.failed += failed
            self.stats.abandoned += abandoned
            if error is not None:
                self.stats.last_error = error
