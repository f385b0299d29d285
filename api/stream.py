"""Live streams for browsers: a topic broadcaster and its feed from PostgreSQL NOTIFY.

:class:`Broadcaster` fans events out to server-sent-event clients by topic ("alerts" now;
"inspections" and "telemetry" can follow). Each client has a bounded queue: a client too slow to
keep up is cut off with a final ``lagged`` event rather than holding memory or slowing the rest;
it reconnects and re-reads current state from the REST API.

:class:`PgRelay` feeds it from ``LISTEN hazgate_stream``, so whichever process changed an alert
(the alert service, or an officer through any API process) reaches every API process's clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
from psycopg import AsyncConnection

from alerts.store import STREAM_CHANNEL

logger = logging.getLogger(__name__)

# Events buffered per client; a dashboard reading at all keeps far below this.
CLIENT_QUEUE_MAX: Final = 256
RELAY_RECONNECT_MAX_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class StreamEvent:
    topic: str
    event: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        """One server-sent event: ``event:`` and a single-line JSON ``data:``."""
        return f"event: {self.event}\ndata: {json.dumps(self.data, separators=(',', ':'))}\n\n".encode()


@dataclass(eq=False)
class Client:
    topics: frozenset[str]
    queue: asyncio.Queue[StreamEvent | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE_MAX))
    lagged: bool = False


class Broadcaster:
    """Topic fan-out on the event loop. ``publish`` from the loop; ``publish_threadsafe`` from threads."""

    def __init__(self) -> None:
        self._clients: set[Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def client_count(self) -> int:
        return len(self._clients)

    @contextlib.asynccontextmanager
    async def subscribe(self, topics: Collection[str]) -> AsyncIterator[Client]:
        client = Client(frozenset(topics))
        self._clients.add(client)
        try:
            yield client
        finally:
            self._clients.discard(client)

    def publish(self, event: StreamEvent) -> None:
        for client in list(self._clients):
            if event.topic not in client.topics or client.lagged:
                continue
            try:
                client.queue.put_nowait(event)
            except asyncio.QueueFull:
                # Cut off on purpose: the client learns it missed events and reconnects.
                client.lagged = True
                client.queue.get_nowait()
                client.queue.put_nowait(StreamEvent(event.topic, "lagged", {"reason": "client too slow"}))

    def publish_threadsafe(self, event: StreamEvent) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.publish, event)

    def close(self) -> None:
        """End every client's stream (shutdown)."""
        for client in list(self._clients):
            with contextlib.suppress(asyncio.QueueFull):
                client.queue.put_nowait(None)


def parse_notice(payload: str) -> StreamEvent | None:
    try:
        data = json.loads(payload)
        return StreamEvent(str(data["topic"]), str(data["event"]), dict(data["data"]))
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring a malformed %s notice: %.200s", STREAM_CHANNEL, payload)
        return None


class PgRelay:
    """``LISTEN hazgate_stream`` → :class:`Broadcaster`, reconnecting with backoff."""

    def __init__(self, conninfo: str, broadcaster: Broadcaster) -> None:
        self.conninfo = conninfo
        self.broadcaster = broadcaster
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.broadcaster.bind(asyncio.get_running_loop())
        self._task = asyncio.create_task(self._run(), name="hazgate-stream-relay")

    async def stop(self) -> None:
        self.broadcaster.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await AsyncConnection.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    await conn.execute(f"LISTEN {STREAM_CHANNEL}")
                    self.connected.set()
                    delay = 0.5
                    async for notice in conn.notifies():
                        event = parse_notice(notice.payload)
                        if event is not None:
                            self.broadcaster.publish(event)
            except (psycopg.Error, OSError) as exc:
                self.connected.clear()
                logger.warning("live stream relay: %s; reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RELAY_RECONNECT_MAX_S)
