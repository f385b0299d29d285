"""The live bridge: broker messages and the in-process gateway → the stream broadcaster.

Every API process subscribes (not shared) to the gates' decision topics and the devices'
status topics, so an API process sees every inspection and status change live whichever
gateway process decided or stored it. Telemetry comes from the in-process gateway's stored
batches when there is one (validated, after commit); an API process without a gateway
subscribes to the telemetry topics itself, only while a browser watches telemetry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from api.live_feed import Coalescer, decision_event, status_event, telemetry_readings
from api.stream import Broadcaster
from hazgate.broker_client import new_client, unique_client_id
from hazgate.settings import Settings
from hazgate.topics import DeviceKind, DeviceTopic, GateKind, GateTopic, device_filter, gate_filter, parse

if TYPE_CHECKING:
    from gateway.router import StoredBatch
    from gateway.service import GatewayService

logger = logging.getLogger(__name__)

# A chart redrawn once a second is live to the eye; more only costs the browser and the server.
TELEMETRY_FLUSH_S: Final = 1.0
DECISIONS: Final = gate_filter(GateKind.DECISION)
STATUSES: Final = device_filter(DeviceKind.STATUS)
TELEMETRY: Final = device_filter(DeviceKind.TELEMETRY)


class LiveBridge:
    def __init__(self, settings: Settings, broadcaster: Broadcaster, gateway: GatewayService | None) -> None:
        self.settings = settings
        self.broadcaster = broadcaster
        self.gateway = gateway
        self.coalescer = Coalescer()
        self.connected = threading.Event()
        self.last_error: str | None = None
        self._watchers = 0
        self._lock = threading.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self.client = new_client(settings, unique_client_id("api-live"))
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.broadcaster.bind(asyncio.get_running_loop())
        if self.gateway is not None:
            self.gateway.router.listeners.append(self.on_stored)
        self._flusher = asyncio.create_task(self._flush_telemetry(), name="hazgate-live-telemetry")
        self.client.connect_async(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
        self.client.loop_start()

    async def stop(self) -> None:
        if self.gateway is not None and self.on_stored in self.gateway.router.listeners:
            self.gateway.router.listeners.remove(self.on_stored)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await asyncio.to_thread(self._disconnect)

    def _disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    @contextlib.contextmanager
    def watching_telemetry(self) -> Iterator[None]:
        """Held by each stream that wants telemetry; the broker subscription follows the count."""
        with self._lock:
            self._watchers += 1
            first = self._watchers == 1
        if first and self.gateway is None:
            self.client.subscribe(TELEMETRY, qos=0)
        try:
            yield
        finally:
            with self._lock:
                self._watchers -= 1
                last = self._watchers == 0
            if last and self.gateway is None:
                self.client.unsubscribe(TELEMETRY)

    # -- sources ------------------------------------------------------------------------------
    def on_stored(self, batch: StoredBatch) -> None:
        """Router listener (writer thread): only coalesce and return."""
        if self._watchers == 0:
            return
        for row in batch.rows:
            self.coalescer.add(row.device_id, row.site, row.ts.isoformat(), row.values)

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: mqtt.ConnectFlags, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the live bridge: {reason}"
            logger.error("%s (check HAZGATE_MQTT__USERNAME / HAZGATE_MQTT__PASSWORD)", self.last_error)
            return
        topics = [(DECISIONS, 0), (STATUSES, 0)]
        if self._watchers and self.gateway is None:
            topics.append((TELEMETRY, 0))
        client.subscribe(topics)
        self.last_error = None
        self.connected.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: mqtt.DisconnectFlags, reason: ReasonCode, _p: object
    ) -> None:
        self.connected.clear()
        if reason.value != 0:
            logger.warning("live bridge disconnected from the broker: %s; reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        """Convert at the boundary and hand off to the event loop (telemetry: coalesce)."""
        topic = parse(message.topic)
        if topic is None or message.retain:
            return  # a retained message is past state, which the pages read from the REST API
        payload = bytes(message.payload)
        match topic:
            case GateTopic(site, gate_id, GateKind.DECISION):
                event = decision_event(site, gate_id, payload)
            case DeviceTopic(site, device_id, DeviceKind.STATUS):
                event = status_event(site, device_id, payload, datetime.now(UTC))
            case DeviceTopic(site, device_id, DeviceKind.TELEMETRY):
                for ts, values in telemetry_readings(payload):
                    self.coalescer.add(device_id, site, ts, values)
                return
            case _:
                return
        if event is not None:
            self.broadcaster.publish_threadsafe(event)

    async def _flush_telemetry(self) -> None:
        while True:
            await asyncio.sleep(TELEMETRY_FLUSH_S)
            for event in self.coalescer.flush():
                self.broadcaster.publish(event)
