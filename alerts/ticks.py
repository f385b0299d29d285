"""Tick scheduling: when the owned partitions' time-based rules run, and at what time (adapter).

Every ``alerts.tick_interval_s`` (and at once when a rule changed or an officer acted) each owned
partition evaluates ``Tick(now)``: absence, dwell, retired rules; then escalations, repeats and
silences ending for its alerts. ``now`` is the wall clock less the stream's lag: a device whose
readings are stored but held back behind a long transaction is not silent, so absence is judged
only up to the time the stored stream is complete.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Final

import psycopg

from alerts.lag import find_blocker

logger = logging.getLogger(__name__)

# A lasting blocker is named again this often, not at every tick.
LAG_WARN_REPEAT_S: Final = 60.0


class TickSchedule:
    def __init__(self, interval_s: float, checkpoint_interval_s: float) -> None:
        self.interval_s = interval_s
        self.checkpoint_interval_s = checkpoint_interval_s
        self._next = 0.0
        self._next_checkpoint = 0.0
        self._now = threading.Event()

    def bring_forward(self) -> None:
        """Tick at the next chance (any thread)."""
        self._now.set()

    def due(self, mono: float) -> bool:
        return self._now.is_set() or mono >= self._next

    def checkpoint_due(self, mono: float) -> bool:
        return mono >= self._next_checkpoint

    def ticked(self, mono: float, *, checkpointed: bool) -> None:
        self._now.clear()
        self._next = mono + self.interval_s
        if checkpointed:
            self._next_checkpoint = mono + self.checkpoint_interval_s

    def seconds_left(self, mono: float) -> float:
        return 0.0 if self._now.is_set() else max(0.0, self._next - mono)


def tick_time(wall_now: datetime, lag_s: float) -> datetime:
    """The time the owned partitions tick at: now, less the time the stream is held back."""
    return wall_now - timedelta(seconds=max(0.0, lag_s))


class LagWatch:
    """Warns, naming the blocking backend, while the stream's lag exceeds ``warn_s``."""

    def __init__(self, warn_s: float) -> None:
        self.warn_s = warn_s
        self._warned_at = -LAG_WARN_REPEAT_S
        self._lagging = False

    def observe(self, conn: psycopg.Connection, lag_s: float) -> None:
        if lag_s < self.warn_s:
            if self._lagging:
                logger.info("alert evaluation is no longer held back (lag %.1f s)", lag_s)
            self._lagging = False
            return
        now = time.monotonic()
        if self._lagging and now - self._warned_at < LAG_WARN_REPEAT_S:
            return
        self._lagging, self._warned_at = True, now
        blocker = find_blocker(conn)
        who = blocker.describe() if blocker else "a session this role cannot see (grant it pg_read_all_stats)"
        logger.warning(
            "alert evaluation is held back %.0f s by an open transaction: %s. Readings stored after it began"
            " are evaluated only once it ends; end it (pg_terminate_backend) or set"
            " idle_in_transaction_session_timeout",
            lag_s,
            who,
        )
