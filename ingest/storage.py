"""The one storage path for validated telemetry, whatever protocol it came in by.

The MQTT router (gateway/router.py) and the JT/T 808 listener (gateway/jt808/) both hand a
:class:`~ingest.writer.Batch` to :meth:`Storage.store`, which writes it in one transaction
(retrying while the database is away), runs ``on_commit`` (the caller's acknowledgements: MQTT
PUBACKs, JT/T 808 0x8001 answers) and then tells the StoredBatch listeners, which is how alert
evaluation and the live pages see new readings. Exactly once comes from the writer: the unique
``(device_id, ts, seq)`` makes a resent reading a no-op.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import psycopg

from gateway.validate import KnownDevice, Row
from ingest.writer import Batch, FlushResult, TelemetryWriter

logger = logging.getLogger(__name__)

# Retry a failed write after this long, doubling up to the cap: the database may be
# restarting, and hammering it helps nobody. The batch (and its unacknowledged input) waits.
RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """What one committed batch added: for listeners on the live stream (alert rules)."""

    rows: list[Row]
    statuses: dict[str, tuple[str, datetime]]  # device_id -> (state, when)
    devices: dict[str, KnownDevice]  # the devices the rows and statuses came from


# A listener runs on the writing thread right after the commit: it must hand off and return.
StoredListener = Callable[[StoredBatch], None]


@dataclass
class StorageStats:
    flushes: int = 0
    flush_failures: int = 0
    last_flush_error: str | None = None
    readings_stored: int = 0
    readings_duplicate: int = 0


class Storage:
    """Write, acknowledge, notify. Used from one thread (the writer owns one connection)."""

    def __init__(
        self,
        writer: TelemetryWriter,
        known_devices: Callable[[], Mapping[str, KnownDevice]],
        listeners: list[StoredListener],
        stop: threading.Event,
        stats: StorageStats | None = None,
    ) -> None:
        self.writer = writer
        self.known_devices = known_devices
        # Shared on purpose: every storage path of a process tells the same listeners.
        self.listeners = listeners
        self.stop = stop
        self.stats = stats if stats is not None else StorageStats()

    def store(
        self,
        batch: Batch,
        on_commit: Callable[[], None] | None = None,
        devices: Mapping[str, KnownDevice] | None = None,
    ) -> FlushResult | None:
        """Store ``batch``; None when stopping before it could be (nothing was acknowledged).

        ``devices``: the devices of the batch as the caller knows them (fresher than the cache,
        e.g. a terminal provisioned a moment ago); the listeners get them with the rows."""
        delay = RETRY_MIN_S
        while True:
            try:
                result = self.writer.flush(batch)
                break
            except psycopg.Error as exc:
                self.stats.flush_failures += 1
                self.stats.last_flush_error = str(exc)
                logger.warning("storing %d items failed (%s); retrying in %.1f s", len(batch), exc, delay)
                if self.stop.wait(delay):
                    # Shutting down: the input stays unacknowledged, so its sender sends it again.
                    return None
                delay = min(delay * 2, RETRY_MAX_S)
        self.stats.flushes += 1
        self.stats.readings_stored += result.inserted
        self.stats.readings_duplicate += result.duplicates
        self.stats.last_flush_error = None
        if on_commit is not None:
            on_commit()
        if self.listeners and (batch.rows or batch.statuses):
            self._notify(batch, devices or {})
        return result

    def _notify(self, batch: Batch, devices: Mapping[str, KnownDevice]) -> None:
        known = {**self.known_devices(), **devices}
        ids = {r.device_id for r in batch.rows} | set(batch.statuses)
        stored = StoredBatch(list(batch.rows), dict(batch.statuses), {i: known[i] for i in ids if i in known})
        for listener in list(self.listeners):
            try:
                listener(stored)
            except Exception:  # one broken listener must not stop storage; logged with its trace
                logger.exception("a stored-batch listener failed")

    def close(self) -> None:
        self.writer.close()
