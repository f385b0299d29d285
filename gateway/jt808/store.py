"""From the listener's connections to the shared storage path, batched, answered after commit.

Connections (asyncio) hand in what a frame produced: readings, refusals, a status change.
One thread gathers what is queued into a batch (up to ``batch_size``), stores it through
:class:`ingest.storage.Storage` and, once committed, resolves each connection's future, which
is when the connection sends its 0x8001. A full queue makes the connection wait (and stop
reading its socket): backpressure, never a silent drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime

from gateway.validate import KnownDevice, Rejection, Row
from ingest.storage import Storage
from ingest.writer import Batch

logger = logging.getLogger(__name__)

# How long a connection waits before trying again to put into a full queue.
QUEUE_FULL_WAIT_S = 0.01


@dataclass(slots=True)
class StoreItem:
    rows: list[Row] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    statuses: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    # The terminal's device, as the listener knows it, for the StoredBatch listeners.
    devices: dict[str, KnownDevice] = field(default_factory=dict)
    # Resolved with True once committed, False when the listener stopped first.
    future: asyncio.Future[bool] | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self.rows) + len(self.rejections) + len(self.statuses)


def _resolve(future: asyncio.Future[bool], ok: bool) -> None:
    if not future.done():
        future.set_result(ok)


class ReportStore:
    def __init__(self, storage: Storage, *, batch_size: int, queue_max: int = 10_000):
        self.storage = storage
        self.batch_size = batch_size
        self._queue: queue.Queue[StoreItem | None] = queue.Queue(queue_max)
        self._thread = threading.Thread(target=self._run, name="hazgate-jt808-store", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Store what is queued, then stop (the storage gives up retrying once ``stop`` is set)."""
        while True:
            try:
                self._queue.put(None, timeout=timeout_s)
                break
            except queue.Full:
                logger.warning("JT/T 808 store queue still full at shutdown; stopping storage")
                self.storage.stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self.storage.stop.set()
            self._thread.join(timeout_s)

    async def store(self, item: StoreItem) -> bool:
        """Hand ``item`` in and wait until it is committed (True) or the listener stopped (False)."""
        loop = asyncio.get_running_loop()
        item.loop, item.future = loop, loop.create_future()
        await self.put(item)
        return await item.future

    async def put(self, item: StoreItem) -> None:
        """Hand ``item`` in without waiting for its commit (refusals, status changes)."""
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                await asyncio.sleep(QUEUE_FULL_WAIT_S)

    def _run(self) -> None:
        """Wait for the first item, take whatever else is queued (up to ``batch_size``), write it.

        At a few reports a second each one is written at once (an answer in milliseconds); under
        load the queue fills while a batch is being written, and the next batch is larger.
        """
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                break
            batch, devices, waiting = Batch(), {}, []
            while item is not None:
                batch.rows.extend(item.rows)
                batch.rejections.extend(item.rejections)
                batch.statuses.update(item.statuses)
                devices.update(item.devices)
                waiting.append(item)
                if len(batch) >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                stopping = item is None
            self._flush(batch, waiting, devices)
        self.storage.close()

    def _flush(self, batch: Batch, waiting: list[StoreItem], devices: dict[str, KnownDevice]) -> None:
        def answer(ok: bool) -> None:
            for item in waiting:
                if item.future is not None and item.loop is not None:
                    with contextlib.suppress(RuntimeError):  # the listener's loop is already closed
                        item.loop.call_soon_threadsafe(_resolve, item.future, ok)

        if self.storage.store(batch, on_commit=lambda: answer(True), devices=devices) is None:
            answer(False)
