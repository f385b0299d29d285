"""The change listener (adapter): LISTEN for what makes an evaluator look at once.

``hazgate_stored``: a writer committed readings or engine inputs; ``hazgate_alerts``: a rule,
subscription or silence changed, or an officer acknowledged or resolved an alert. The listener only
calls back (which sets an event); on every (re)connection it calls back too, for whatever was
notified while it was not listening. Without it, an evaluator still polls at its tick interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final

import psycopg

from alerts.inputs import STORED_CHANNEL
from alerts.store import ALERTS_CHANNEL

logger = logging.getLogger(__name__)

RECONNECT_MAX_S: Final = 10.0
POLL_S: Final = 0.5


class ChangeListener:
    def __init__(
        self, conninfo: str, *, on_stored: Callable[[], None], on_changed: Callable[[], None], name: str
    ) -> None:
        self.conninfo = conninfo
        self.on_stored = on_stored
        self.on_changed = on_changed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.conninfo, autocommit=True, connect_timeout=5, application_name="hazgate-alerts-listen"
                ) as conn:
                    conn.execute(f"LISTEN {STORED_CHANNEL}")
                    conn.execute(f"LISTEN {ALERTS_CHANNEL}")
                    delay = 0.5
                    self.on_changed()  # whatever changed while we were not listening
                    self.on_stored()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=POLL_S, stop_after=1):
                            if note.channel == STORED_CHANNEL:
                                self.on_stored()
                            else:
                                self.on_changed()
            except psycopg.Error as exc:
                logger.warning("alert change listener: %s; reconnecting in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
