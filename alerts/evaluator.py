"""The evaluator of one process (adapter): partitions owned, the stored stream read, ticks.

One thread, one database session. On that session the process holds its member lock and the
locks of the partitions it owns (alerts/ownership.py), reads the stored stream (alerts/reader.py)
and commits what evaluation produced (alerts/evaluation.py): if the session breaks, the locks and
any unsaved progress go together, and whichever process takes a partition next continues from its
saved cursor and state. A listener thread (alerts/listener.py) wakes it when something was stored
or changed; otherwise it looks at every tick. See docs/alerts.md.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
from psycopg.types.json import set_json_loads

from alerts.config import UNLOADED, AlertConfig, load_config
from alerts.errors import StateFormatError
from alerts.evaluation import Evaluation, EvaluationStats
from alerts.listener import ChangeListener
from alerts.ownership import Ownership
from alerts.partitions import partition_of
from alerts.reader import Horizon, horizon
from alerts.store import PartitionLost, load_partitions, partition_count
from alerts.ticks import LagWatch, TickSchedule, tick_time
from alerts.urlcheck import UrlPolicy
from hazgate.errors import ConfigError
from hazgate.settings import Settings

logger = logging.getLogger(__name__)

RECONNECT_MAX_S: Final = 10.0
# After a notice, transactions that were running keep the horizon back for a few ms: look again
# this soon, then less and less often.
SHORT_POLL_MIN_S: Final = 0.005
# A key whose partition the database and this build must agree on (non-ASCII on purpose: plates).
PARTITION_PROBE: Final = "浙B12345-probe"


@dataclass
class EvaluatorStats:
    active: bool = False
    member: int | None = None
    partitions: list[int] = field(default_factory=list)
    live_processes: int = 0
    taken_over: int = 0
    released: int = 0
    lag_s: float = 0.0
    last_error: str | None = None
    evaluation: EvaluationStats = field(default_factory=EvaluationStats)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _json_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Reading values arrive as bytes; json.loads of a str skips guessing their encoding."""
    return json.loads(data if isinstance(data, str) else bytes(data).decode())


class Evaluator:
    """Start it and it evaluates whatever partitions fall to this process, until stopped."""

    def __init__(
        self,
        settings: Settings,
        *,
        role: str = "worker",
        clock: Callable[[], datetime] = _utcnow,
        on_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.cfg = settings.alerts
        self.role = role
        self.clock = clock
        self.url_policy = UrlPolicy(
            allow_loopback=self.cfg.allow_loopback_webhooks, allow_private=self.cfg.allow_private_webhooks
        )
        self.config: AlertConfig = UNLOADED
        self.stats = EvaluatorStats()
        self.evaluation = Evaluation(self.cfg, clock, on_outbox, stats=self.stats.evaluation)
        self.ticks = TickSchedule(self.cfg.tick_interval_s, self.cfg.checkpoint_interval_s)
        self.lag = LagWatch(self.cfg.lag_warn_s)
        self.ownership: Ownership | None = None
        self._wake = threading.Event()
        self.listener = ChangeListener(
            settings.db_url, on_stored=self._wake.set, on_changed=self.wake, name="hazgate-alerts-listen"
        )
        self._stop = threading.Event()
        self._drain_on_stop = True
        self._conn: psycopg.Connection | None = None
        self._next_round = 0.0
        self._target = 0  # evaluate at least up to this transaction id before sleeping
        self._short_poll_s = SHORT_POLL_MIN_S
        self._thread = threading.Thread(target=self._run, name="hazgate-evaluator", daemon=True)

    # --- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.listener.start()
        self._thread.start()

    def stop(self, timeout_s: float = 15.0, *, drain: bool = True) -> None:
        """Stop. ``drain``: evaluate what is stored and save every partition first, then let them
        go; ``drain=False`` leaves as a crash would (for tests of recovery)."""
        self._drain_on_stop = drain
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        self.listener.stop(timeout_s)

    def wake(self) -> None:
        """Tick now (a rule changed, an officer acted), and look at the stream."""
        self.ticks.bring_forward()
        self._wake.set()

    @property
    def owned(self) -> list[int]:
        return sorted(self.evaluation.runs)

    # --- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                if self._conn is None:
                    self._connect()
                self._round()
                delay = 0.5
            except (psycopg.Error, PartitionLost, StateFormatError) as exc:
                self.stats.last_error = str(exc)
                logger.error("alert evaluation interrupted (%s); starting over in %.1f s", exc, delay)
                self._close()
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, RECONNECT_MAX_S)
            except ConfigError as exc:
                self.stats.last_error = str(exc)
                logger.error("alert evaluation cannot run: %s", exc)
                self._close()
                return
        self._finish()

    def _connect(self) -> None:
        conn = psycopg.connect(
            self.settings.db_url,
            autocommit=True,
            connect_timeout=5,
            application_name=f"hazgate-evaluator ({self.role})",
            # A process on a machine that vanished must lose its locks within seconds, not hours.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            # UTC: time stamps come back with datetime.UTC, cheaper to check than a zoneinfo zone.
            options="-c timezone=UTC -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3",
        )
        set_json_loads(_json_loads, conn)
        try:
            count = partition_count(conn)
            row = conn.execute("SELECT alert_partition(%s)", (PARTITION_PROBE,)).fetchone()
            if row is None or row[0] != partition_of(PARTITION_PROBE, count):
                raise ConfigError(
                    "the database's alert_partition() and this build's partition_of() disagree",
                    hint="run `hazgate migrate` with this build; every process must run the same version",
                )
            self.config = load_config(conn, self.url_policy, count)
            self.ownership = Ownership(count, self.role, round_s=self.cfg.rebalance_interval_s)
            self.stats.member = self.ownership.join(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._next_round = 0.0
        self._target = 0
        self.stats.active = True
        logger.info(
            "alert evaluator %d joined: %d rules, %d subscriptions; %d partitions",
            self.stats.member,
            len(self.config.rules),
            len(self.config.subscriptions),
            count,
        )

    def _close(self) -> None:
        """The session ends, and with it every lock: forget what was not saved."""
        self.stats.active = False
        self.evaluation.drop()
        if self.ownership is not None:
            self.ownership.leave()
        self.stats.partitions = []
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                logger.debug("closing a broken evaluator connection failed", exc_info=True)
            self._conn = None

    def _round(self) -> None:
        conn = self._require_conn()
        woken = self._wake.is_set()
        self._wake.clear()
        mono = time.monotonic()
        if mono >= self._next_round:
            self._rebalance(conn)
            self._next_round = mono + self.cfg.rebalance_interval_s
        h = horizon(conn)
        if h.config_version != self.config.version:
            self._reload(conn)
        before = self.evaluation.cursor_floor()
        self.evaluation.drain(conn, self.config, h.x, h.complete_at, mono + self.cfg.rebalance_interval_s)
        after = self.evaluation.cursor_floor()
        if woken or self.ticks.due(mono):
            self._target = max(self._target, h.xmax)
        if self.ticks.due(time.monotonic()):
            self._tick(conn, h)
        if after is not None and after < h.x:
            return  # a backlog: on with it after this round's rebalance and tick
        self._sleep(h, advanced=after != before)

    def _sleep(self, h: Horizon, *, advanced: bool) -> None:
        """Until woken, the next tick or round; sooner while transactions that committed before the
        last notice are still below the horizon (a transaction running beside them holds it back)."""
        mono = time.monotonic()
        timeout = min(self.ticks.seconds_left(mono), max(0.0, self._next_round - mono))
        if h.x < self._target and self.evaluation.runs:
            self._short_poll_s = SHORT_POLL_MIN_S if advanced else min(self._short_poll_s * 2, timeout)
            timeout = min(timeout, self._short_poll_s)
        self._wake.wait(timeout)

    def _rebalance(self, conn: psycopg.Connection) -> None:
        ownership = self._require_ownership()
        survey = ownership.survey(conn)
        take, release = ownership.plan(survey)
        if release:
            self.evaluation.checkpoint(conn, self.config, release)
            ownership.release(conn, release)
            self.evaluation.drop(release)
            self.stats.released += len(release)
            logger.info("alert partitions %s handed over to other processes", release)
        if take:
            got = ownership.take(conn, take)
            if got:
                self.evaluation.adopt(load_partitions(conn, got))
                self.stats.taken_over += len(got)
                logger.info("alert partitions %s taken (now %d)", got, len(ownership.owned))
        self.stats.partitions = sorted(ownership.owned)
        self.stats.live_processes = max(1, len(survey.members))
        ownership.heartbeat(conn, self.stats.evaluation.readings + self.stats.evaluation.inputs)

    def _reload(self, conn: psycopg.Connection) -> None:
        self.config = load_config(conn, self.url_policy, self._require_ownership().count)
        logger.info(
            "alert configuration %d: %d rules, %d subscriptions, %d silences",
            self.config.version,
            len(self.config.rules),
            len(self.config.subscriptions),
            len(self.config.silences),
        )

    def _tick(self, conn: psycopg.Connection, h: Horizon) -> None:
        mono = time.monotonic()
        checkpoint = self.ticks.checkpoint_due(mono)
        self.stats.lag_s = h.lag_s
        self.lag.observe(conn, h.lag_s)
        self.evaluation.tick(conn, self.config, tick_time(self.clock(), h.lag_s), checkpoint=checkpoint)
        self.ticks.ticked(mono, checkpointed=checkpoint)

    def _finish(self) -> None:
        """Stopping: evaluate what is stored and save (unless told to leave like a crash), let go."""
        try:
            if self._drain_on_stop and self._conn is not None:
                h = horizon(self._conn)
                self.evaluation.drain(self._conn, self.config, h.x, h.complete_at, time.monotonic() + 30.0)
                self.evaluation.checkpoint(self._conn, self.config)
        except (psycopg.Error, PartitionLost) as exc:
            logger.warning("alert evaluator could not save on stopping (%s); the next owner replays", exc)
        finally:
            self._close()

    def _require_conn(self) -> psycopg.Connection:
        if self._conn is None:
            raise psycopg.OperationalError("the alert evaluator has no database connection")
        return self._conn

    def _require_ownership(self) -> Ownership:
        if self.ownership is None:
            raise psycopg.OperationalError("the alert evaluator has not joined")
        return self.ownership
