"""The router: takes messages off the inbox, validates them, batches storage, acknowledges.

One thread. Telemetry, status and refusals go into the current batch, which is flushed by
size or by time; each message is acknowledged to the broker only after everything it produced
is committed. Gate events go to the gate pipeline, which stores and acknowledges them itself,
so slow face work there never holds up telemetry.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from gateway.device_cache import DeviceCache, RegistryUnavailable
from gateway.messages import InboundMessage
from gateway.validate import KnownDevice, RejectReason, Verdict, validate
from ingest.storage import RETRY_MAX_S, RETRY_MIN_S, Storage, StorageStats, StoredBatch, StoredListener
from ingest.writer import Batch, TelemetryWriter

logger = logging.getLogger(__name__)

Ack = Callable[[int, int], None]

__all__ = ["Router", "RouterStats", "StoredBatch", "StoredListener"]


class EventSink(Protocol):
    """Where gate events go. It must store the event, then call ack(mid, qos)."""

    def submit(self, msg: InboundMessage, device: KnownDevice, event: dict[str, object]) -> None: ...


@dataclass
class RouterStats(StorageStats):
    received: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


class Router:
    def __init__(
        self,
        inbox: queue.Queue[InboundMessage],
        writer: TelemetryWriter,
        devices: DeviceCache,
        ack: Ack,
        events: EventSink | None,
        *,
        batch_size: int,
        flush_interval_s: float,
        max_payload_bytes: int,
        max_event_bytes: int,
    ) -> None:
        self.inbox = inbox
        self.writer = writer
        self.devices = devices
        self.ack = ack
        self.events = events
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_payload_bytes = max_payload_bytes
        self.max_event_bytes = max_event_bytes
        self.stats = RouterStats()
        # StoredBatch listeners (alert evaluation, live pages); the JT/T 808 listener of the
        # same process stores through a Storage that tells this same list.
        self.listeners: list[StoredListener] = []
        self._stop = threading.Event()
        self.storage = Storage(writer, devices.snapshot, self.listeners, self._stop, self.stats)
        self._thread = threading.Thread(target=self.run, name="hazgate-router", daemon=True)
        # Validation (this process) and the database (another) work in parallel: while one
        # batch is being written, the next is being validated. Two batches queued at most.
        self._to_writer: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._writer_thread = threading.Thread(target=self._write_loop, name="hazgate-writer", daemon=True)

    def start(self) -> None:
        self._writer_thread.start()
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        self._writer_thread.join(timeout_s)

    def run(self) -> None:
        """Validate and batch; a full or old batch goes to the writer thread."""
        batch = Batch()
        opened_at = 0.0
        while not self._stop.is_set():
            wait = self.flush_interval_s
            if batch.mids:
                wait = max(0.0, opened_at + self.flush_interval_s - time.monotonic())
            try:
                msg = self.inbox.get(timeout=wait)
            except queue.Empty:
                msg = None
            if msg is not None:
                if not batch.mids:
                    opened_at = time.monotonic()
                self.handle(msg, batch)
            due = time.monotonic() >= opened_at + self.flush_interval_s
            if batch.mids and (len(batch) >= self.batch_size or due):
                self._to_writer.put(batch)  # blocks when the writer is behind: backpressure
                batch = Batch()
        if batch.mids:
            self._to_writer.put(batch)
        self._to_writer.put(None)

    def _write_loop(self) -> None:
        """Store batches in order; acknowledge each batch's messages after its commit."""
        while (batch := self._to_writer.get()) is not None:
            self.flush(batch)
        self.writer.close()

    def handle(self, msg: InboundMessage, batch: Batch) -> None:
        self.stats.received += 1
        now = datetime.now(UTC)
        verdict = self._judged(msg, now)
        if verdict is None:
            return  # stopping: left unacknowledged, the broker redelivers it
        if verdict.event is not None and verdict.device is not None and self.events is not None:
            self.events.submit(msg, verdict.device, verdict.event)
            return
        batch.rows.extend(verdict.rows)
        batch.rejections.extend(verdict.rejections)
        if verdict.status is not None and verdict.device is not None:
            batch.statuses[verdict.device.device_id] = (verdict.status, datetime.fromtimestamp(msg.received_at, UTC))
        for rejection in verdict.rejections:
            self.stats.rejected[rejection.reason.value] += 1
        batch.mids.append((msg.mid, msg.qos))

    def _judged(self, msg: InboundMessage, now: datetime) -> Verdict | None:
        """The message's verdict; while the registry cannot be read, wait for it (the broker holds
        the rest meanwhile), since a device is unknown only if the registry says so."""
        delay = RETRY_MIN_S
        while True:
            try:
                return self._judge(msg, now)
            except RegistryUnavailable as exc:
                logger.warning("cannot check devices against the registry (%s); retrying in %.1f s", exc, delay)
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, RETRY_MAX_S)

    def _judge(self, msg: InboundMessage, now: datetime) -> Verdict:
        devices = self.devices.snapshot()
        if not self.devices.loaded:
            devices = self.devices.reload()
            if not self.devices.loaded:
                raise RegistryUnavailable("the device registry has not been loaded yet")
        verdict = self._validate(msg, devices, now)
        if _unknown_device(verdict) and verdict.topic and self.devices.lookup(verdict.topic.device_id):
            # Registered a moment ago: now we know it.
            verdict = self._validate(msg, self.devices.snapshot(), now)
        return verdict

    def _validate(self, msg: InboundMessage, devices: dict[str, KnownDevice], now: datetime) -> Verdict:
        return validate(
            msg, devices, max_payload_bytes=self.max_payload_bytes, max_event_bytes=self.max_event_bytes, now=now
        )

    def flush(self, batch: Batch) -> None:
        """Store the batch, then acknowledge its messages (and tell the listeners)."""

        def ack() -> None:
            for mid, qos in batch.mids:
                self.ack(mid, qos)

        if self.storage.store(batch, on_commit=ack) is not None:
            batch.clear()


def _unknown_device(verdict: Verdict) -> bool:
    return any(r.reason is RejectReason.UNKNOWN_DEVICE for r in verdict.rejections)
