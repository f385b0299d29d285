"""The paho-mqtt adapter. Its callbacks only convert and hand off; work happens in the router.

QoS 1 with ``manual_ack``: paho would otherwise acknowledge a message as soon as the callback
returns, before it is stored. The session is persistent (clean_session false) so whatever we
have not acknowledged is redelivered after a reconnect or a restart.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.messages import InboundMessage, subscriptions
from hazgate.settings import Settings

logger = logging.getLogger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30


class MqttGateway:
    def __init__(self, settings: Settings, inbox: queue.Queue[InboundMessage], *, client_id: str | None = None) -> None:
        self.settings = settings
        self.inbox = inbox
        self.connected = threading.Event()
        self.last_error: str | None = None
        cfg = settings.mqtt
        v5 = cfg.protocol == "5"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or cfg.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        self.client.username_pw_set(cfg.username, settings.mqtt_password)
        self.client.max_inflight_messages_set(cfg.max_inflight)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._v5 = v5

    def start(self) -> None:
        props = None
        if self._v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 14 * 24 * 3600
            props.ReceiveMaximum = self.settings.mqtt.max_inflight
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

    def wait_connected(self, timeout_s: float) -> bool:
        return self.connected.wait(timeout_s)

    def ack(self, mid: int, qos: int) -> None:
        if qos > 0:
            self.client.ack(mid, qos)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    # -- callbacks: convert, hand off, return -------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            # Not connected: say so, and let paho retry. Never pretend it worked.
            self.last_error = f"broker refused the connection: {reason}"
            logger.error("%s (check HAZGATE_MQTT__USERNAME / HAZGATE_MQTT__PASSWORD)", self.last_error)
            return
        logger.info("connected to the broker (session present: %s)", flags.session_present)
        client.subscribe([(t, 1) for t in subscriptions(self.settings.mqtt.share_group)])
        self.last_error = None
        self.connected.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: mqtt.DisconnectFlags, reason: ReasonCode, _p: object
    ) -> None:
        self.connected.clear()
        if reason.is_failure or reason.value != 0:
            self.last_error = f"disconnected: {reason}"
            logger.warning("disconnected from the broker: %s; reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        msg = InboundMessage(
            message.topic, bytes(message.payload), message.mid, message.qos, message.retain, time.time()
        )
        # Blocks when the router is behind: paho then stops reading the socket and the broker
        # holds the rest. A deliberate backpressure, not a drop.
        self.inbox.put(msg)


def forget_session(settings: Settings, client_id: str) -> None:
    """End a retired gateway's persistent session, so the broker stops queueing for it.

    A clean-session CONNECT with the same client id discards the stored session and its
    subscriptions (MQTT 3.1.1 §3.1.2.4).
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=True)
    client.username_pw_set(settings.mqtt.username, settings.mqtt_password)
    client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=10)
    client.loop_start()
    client.disconnect()
    client.loop_stop()
