"""Gate events: validated, stored once, acknowledged, then handed to the gate pipeline.

Runs on its own thread and queue, so decoding photos and matching faces never delay telemetry.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import psycopg
from pydantic import ValidationError

from gateway import gate_store
from gateway.messages import InboundMessage
from gateway.payloads import GATE_EVENT_ADAPTER, GateEvent
from gateway.validate import KnownDevice, Rejection, RejectReason, excerpt
from ingest.writer import write_rejections

logger = logging.getLogger(__name__)

Ack = Callable[[int, int], None]
# Called with each newly stored event as its typed model (a redelivery is not new), images
# included, and the time.time() the message reached the gateway (decision latency is measured from it).
OnEvent = Callable[[KnownDevice, GateEvent, float], None]
RETRY_S = 1.0


class GateEventStore:
    def __init__(self, conninfo: str, ack: Ack, on_event: OnEvent | None = None, queue_max: int = 1000) -> None:
        self.conninfo = conninfo
        self.ack = ack
        self.on_event = on_event
        self.inbox: queue.Queue[tuple[InboundMessage, KnownDevice, dict[str, object]]] = queue.Queue(queue_max)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hazgate-gate-events", daemon=True)
        self.stored = 0
        self.duplicates = 0
        self._conn: psycopg.Connection | None = None

    def submit(self, msg: InboundMessage, device: KnownDevice, event: dict[str, object]) -> None:
        self.inbox.put((msg, device, event))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._drop_connection()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                msg, device, event = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            while not self._stop.is_set():
                try:
                    new_event = self._store(self._db(), msg, device, event)
                    break
                except psycopg.OperationalError as exc:
                    logger.warning("storing a gate event failed (%s); retrying", exc)
                    self._drop_connection()
                    self._stop.wait(RETRY_S)
            else:
                return  # stopping: unacknowledged, the broker redelivers
            self.ack(msg.mid, msg.qos)
            if new_event is not None and self.on_event is not None:
                try:
                    self.on_event(device, new_event, msg.received_at)
                except Exception:  # the pipeline must outlive one bad event; it is logged with its trace
                    logger.exception("gate pipeline failed on event %s", new_event.event_id)

    def _store(
        self, conn: psycopg.Connection, msg: InboundMessage, device: KnownDevice, event: dict[str, object]
    ) -> GateEvent | None:
        """Parse the event into its model (once: it travels typed from here) and record it."""
        try:
            parsed = GATE_EVENT_ADAPTER.validate_python(event)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            rejection = Rejection(
                RejectReason.WRONG_TYPE, detail, msg.topic, device.device_id, excerpt(msg.payload), len(msg.payload)
            )
            write_rejections(conn, [rejection])
            return None
        if not gate_store.store_event(conn, device, parsed):
            self.duplicates += 1
            return None
        self.stored += 1
        return parsed
