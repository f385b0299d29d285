"""The paho-mqtt adapter. Its callbacks only convert and hand off; work happens in the router.

QoS 1 with ``manual_ack``: paho would otherwise acknowledge a message as soon as the callback
returns, before it is stored. The session is persistent (clean_session false) so whatever we
have not acknowledged is redelivered after a reconnect or a restart.

Each process claims a distinct, stable client id (gateway/client_id.py) and records its session
on the broker (gateway/sessions.py). Being taken over by another client with the same id stops
the gateway with an error naming the setting (gateway/takeover.py), as does a broker certificate
that cannot be trusted at start-up.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.client_id import ClientIdClaim, claim_client_id
from gateway.messages import InboundMessage
from gateway.sessions import SESSION_EXPIRY_S, GatewaySession, encode, registry_topic
from gateway.takeover import TakeoverWatch
from hazgate.broker_client import diagnose, new_client
from hazgate.settings import Settings
from hazgate.topics import gateway_subscriptions

logger = logging.getLogger(__name__)

# After the broker went away: retry after 1 s, doubling up to 5 s. A gateway away from a
# restarted broker leaves the devices' messages queued in its session; come back soon.
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 5


class MqttGateway:
    def __init__(self, settings: Settings, inbox: queue.Queue[InboundMessage], *, client_id: str | None = None) -> None:
        self.settings = settings
        self.inbox = inbox
        self.connected = threading.Event()
        # Set when the gateway must stop: its id is taken, or the broker cannot be trusted.
        self.fatal = threading.Event()
        self.fatal_error: str | None = None
        self.last_error: str | None = None
        self.claim: ClientIdClaim = claim_client_id(settings, client_id)
        self.client_id = self.claim.client_id
        cfg = settings.mqtt
        self._v5 = cfg.protocol == "5"
        self._topics = gateway_subscriptions(cfg.share_group)
        self._takeover = TakeoverWatch()
        self._ever_connected = False
        self.client = new_client(settings, self.client_id, protocol=cfg.protocol, clean_session=False, manual_ack=True)
        self.client.max_inflight_messages_set(cfg.max_inflight)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        props = None
        if self._v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = self.settings.mqtt.max_inflight
        logger.info("gateway MQTT client id %s", self.client_id)
        self.client.connect_async(
            self.settings.mqtt_host,
            self.settings.mqtt_port,
            keepalive=self.settings.mqtt.keepalive_s,
            clean_start=False if self._v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.claim.release()

    def wait_connected(self, timeout_s: float) -> bool:
        """True once connected; False after ``timeout_s``, or at once when the gateway must stop
        (``fatal``: an untrusted broker, a client id in use), which no waiting would change."""
        deadline = time.monotonic() + timeout_s
        while not self.connected.wait(min(0.2, max(0.0, deadline - time.monotonic()))):
            if self.fatal.is_set() or time.monotonic() >= deadline:
                return False
        return True

    def ack(self, mid: int, qos: int) -> None:
        if qos > 0:
            self.client.ack(mid, qos)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def registration(self) -> GatewaySession:
        cfg = self.settings.mqtt
        return GatewaySession(
            self.client_id, cfg.protocol, cfg.share_group, tuple(self._topics), socket.gethostname(), datetime.now(UTC)
        )

    # -- callbacks: convert, hand off, return -------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            # Not connected: say so, and let paho retry. Never pretend it worked.
            self._takeover.connect_failed()
            self.last_error = f"broker refused the connection: {reason}"
            logger.error(
                "%s (a broker that is starting refuses everyone for a moment; if this goes on,"
                " check HAZGATE_MQTT__USERNAME / HAZGATE_MQTT__PASSWORD)",
                self.last_error,
            )
            return
        logger.info("connected to the broker as %s (session present: %s)", self.client_id, flags.session_present)
        self._takeover.connected(time.monotonic())
        client.subscribe([(t, 1) for t in self._topics])
        # Retained: the broker keeps it with its sessions, so a restarted broker can restore the
        # shared subscription before devices publish (gateway/sessions.py).
        client.publish(registry_topic(self.client_id), encode(self.registration()), qos=1, retain=True)
        self._ever_connected = True
        self.last_error = None
        self.connected.set()

    def _on_connect_fail(self, _c: mqtt.Client, _u: object) -> None:
        self._takeover.connect_failed()
        problem = diagnose(self.settings)
        self.last_error = problem.message if problem else "cannot connect to the broker"
        if problem is not None and problem.permanent and not self._ever_connected:
            self._stop_for(problem.message)
            return
        logger.warning("%s; retrying", self.last_error)

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: mqtt.DisconnectFlags, reason: ReasonCode, _p: object
    ) -> None:
        self.connected.clear()
        if reason.value == 0 or self.fatal.is_set():
            return
        self.last_error = f"disconnected: {reason}"
        code = reason.value if self._v5 else None
        if self._takeover.disconnected(time.monotonic(), code):
            how = (
                "the broker says another client took over our session (MQTT 5 reason 0x8E)"
                if code is not None
                else "the broker closed our connection right after accepting it, again and again"
            )
            self._stop_for(
                f"another process uses the MQTT client id {self.client_id!r}: {how}. Two gateways must not"
                " share a client id: unset HAZGATE_MQTT__CLIENT_ID so each process claims its own, or give"
                " each process a different one"
            )
            return
        logger.warning("disconnected from the broker: %s; reconnecting", reason)

    def _stop_for(self, error: str) -> None:
        """Stop reconnecting (from paho's thread: no loop_stop here) and tell the owner why."""
        self.fatal_error = error
        self.last_error = error
        logger.error("gateway stops: %s", error)
        self.fatal.set()
        self.client.disconnect()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        msg = InboundMessage(
            message.topic, bytes(message.payload), message.mid, message.qos, message.retain, time.time()
        )
        # Blocks when the router is behind: paho then stops reading the socket and the broker
        # holds the rest. A deliberate backpressure, not a drop.
        self.inbox.put(msg)


def forget_session(settings: Settings, client_id: str | None) -> None:
    """Retire a gateway's id for good: end its persistent session and its registration.

    A clean-session CONNECT with the same client id discards the stored session and its
    subscriptions (MQTT 3.1.1 §3.1.2.4); what it still held is discarded with it.
    """
    if not client_id:
        raise ValueError("forget_session needs the client id of the session to end")
    client = new_client(settings, client_id, clean_session=True)
    client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=10)
    client.loop_start()
    client.publish(registry_topic(client_id), b"", qos=1, retain=True).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
