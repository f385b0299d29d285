"""The API's own MQTT publisher: officer actions reach the devices from any role.

An override's barrier command is published by the API process itself, on a client connected in
the app's lifespan whatever the role (``all`` or ``api``), never through an in-process gateway
that an ``api`` process does not have. A command is sent only while connected, and counts as
sent only when the broker acknowledged it (QoS 1 PUBACK); otherwise the caller gets a
:class:`CommandNotSent` saying why, and nothing is left queued to go out later by surprise.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Final

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from hazgate.broker_client import diagnose, new_client, unique_client_id
from hazgate.errors import HazgateError
from hazgate.settings import Settings

logger = logging.getLogger(__name__)

# How long an officer's request waits for the broker (connecting, then its PUBACK): longer
# than a loopback round trip by far, short enough that the officer is told while at the gate.
SEND_TIMEOUT_S: Final = 3.0


class CommandNotSent(HazgateError):
    """The broker did not take the command; ``message`` says why for the officer."""


class CommandPublisher:
    def __init__(self, settings: Settings, *, timeout_s: float = SEND_TIMEOUT_S) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.connected = threading.Event()
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._started = False
        self.client = self._new_client()

    def _new_client(self) -> mqtt.Client:
        client = new_client(self.settings, unique_client_id("api"))
        client.reconnect_delay_set(1, 5)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        return client

    def start(self) -> None:
        """Connect in the background: the API starts (and says so on /healthz) with the broker down."""
        with self._lock:
            self.client.connect_async(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
            self.client.loop_start()
            self._started = True

    def stop(self) -> None:
        with self._lock:
            if self._started:
                self.client.disconnect()
                self.client.loop_stop()
                self._started = False

    async def ready(self) -> None:
        """CommandNotSent unless connected (waiting up to the timeout): checked before anything
        is recorded, so that with the broker down nothing changes."""
        if not await asyncio.to_thread(self.connected.wait, self.timeout_s):
            raise CommandNotSent(f"the MQTT broker is not reachable ({self.last_error or 'connecting'})")

    async def send(self, topic: str, payload: bytes) -> None:
        await asyncio.to_thread(self.send_blocking, topic, payload)

    def send_blocking(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK; CommandNotSent otherwise."""
        if not self.connected.wait(self.timeout_s):
            raise CommandNotSent(f"the MQTT broker is not reachable ({self.last_error or 'connecting'})")
        with self._lock:
            info = self.client.publish(topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._reset()
                raise CommandNotSent(f"the MQTT broker refused the command: {mqtt.error_string(info.rc)}")
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            with self._lock:
                self._reset()
            raise CommandNotSent(f"the MQTT broker connection failed while sending: {exc}") from exc
        if not info.is_published():
            with self._lock:
                self._reset()
            raise CommandNotSent(
                f"the MQTT broker did not confirm the command within {self.timeout_s:g} s;"
                " it may or may not have reached the gate"
            )

    def _reset(self) -> None:
        """Drop the client with whatever it still holds (paho would resend it after a reconnect,
        long after the officer was told it failed) and connect a fresh one. Under self._lock."""
        old = self.client
        self.connected.clear()
        self.client = self._new_client()
        if self._started:
            self.client.connect_async(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
            self.client.loop_start()
        old.disconnect()
        threading.Thread(target=old.loop_stop, name="hazgate-api-publisher-reset", daemon=True).start()

    # -- callbacks ----------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if client is not self.client:
            return
        if reason.is_failure:
            self.last_error = f"it refused the API's connection: {reason}"
            logger.error("command publisher: %s (check HAZGATE_MQTT__USERNAME / PASSWORD)", self.last_error)
            return
        self.last_error = None
        self.connected.set()

    def _on_connect_fail(self, client: mqtt.Client, _u: object) -> None:
        if client is not self.client:
            return
        problem = diagnose(self.settings)
        self.last_error = problem.message if problem else "cannot connect"
        logger.warning("command publisher: %s", self.last_error)

    def _on_disconnect(self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if client is not self.client:
            return
        self.connected.clear()
        if reason.value != 0:
            self.last_error = f"disconnected: {reason}"
