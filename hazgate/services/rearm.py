"""Restore the gateways' shared subscriptions on a broker that has just started, before devices get in.

Mosquitto 2.0 restores persistent sessions from its saved database but drops their shared
subscriptions (measured on 2.0.11: after a restart, a session resumed with "session present" and
no subscription). Messages that devices publish before the gateways have reconnected would match
nobody and be dropped after their PUBACK. So the broker starts with only a one-time account in
its password file; with it we read the gateways' retained registrations (gateway/sessions.py),
connect as each registered session (same client id, clean session off) and subscribe its shared
topics again; then the real accounts are written and the broker reloads them. A device that
connects meanwhile is refused and retries, keeping its unacknowledged messages.

Messages the restored sessions had queued are left alone: the re-arming client never
acknowledges anything, so the broker delivers them to the gateway when it reconnects.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.sessions import (
    REGISTRY_FILTER,
    REGISTRY_TOPIC,
    SESSION_EXPIRY_S,
    GatewaySession,
    decode,
    is_stale,
    registry_topic,
)
from hazgate.broker_client import bare_client
from hazgate.errors import ServiceError
from hazgate.topics import matches

logger = logging.getLogger(__name__)

# Not a valid device id (those start with a letter or digit), so never a device's account.
REARM_USER: Final = "_hazgate-rearm"
STEP_TIMEOUT_S: Final = 10.0


@dataclass
class _Waiter:
    """paho callbacks → events the caller waits on."""

    connected: threading.Event = field(default_factory=threading.Event)
    subscribed: threading.Event = field(default_factory=threading.Event)
    refused: str | None = None
    registrations: list[bytes] = field(default_factory=list)
    end_marker: str = ""
    done: threading.Event = field(default_factory=threading.Event)


def _client(client_id: str, protocol: str, *, clean: bool, waiter: _Waiter) -> mqtt.Client:
    # Never acknowledge: what a restored session delivers stays in it for its gateway.
    client = bare_client(client_id, protocol=protocol, clean_session=clean, manual_ack=True)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if reason.is_failure:
            waiter.refused = str(reason)
        waiter.connected.set()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic == waiter.end_marker:
            waiter.done.set()
        elif message.retain and matches(REGISTRY_FILTER, message.topic):
            waiter.registrations.append(bytes(message.payload))

    client.on_connect = on_connect
    client.on_subscribe = lambda *_a: waiter.subscribed.set()
    client.on_message = on_message
    return client


def _connect(client: mqtt.Client, host: str, port: int, protocol: str, *, clean: bool, waiter: _Waiter) -> None:
    v5 = protocol == "5"
    props = None
    if v5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0 if clean else SESSION_EXPIRY_S
        props.ReceiveMaximum = 1  # the session's queued messages are not ours to take
    clean_start = clean if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY
    client.connect(host, port, keepalive=30, clean_start=clean_start, properties=props)
    client.loop_start()
    if not waiter.connected.wait(STEP_TIMEOUT_S) or waiter.refused:
        client.loop_stop()
        answer = waiter.refused or "no answer"
        raise ServiceError(f"restoring the gateways' sessions: the broker on {host}:{port} refused us ({answer})")


def registered_sessions(host: str, port: int, username: str, password: str) -> list[GatewaySession]:
    """The retained registrations (readable ones only)."""
    waiter = _Waiter(end_marker=f"{REGISTRY_TOPIC}/~end-{uuid.uuid4().hex}")
    client = _client(f"hazgate-rearm-{uuid.uuid4().hex[:8]}", "3.1.1", clean=True, waiter=waiter)
    client.username_pw_set(username, password)
    _connect(client, host, port, "3.1.1", clean=True, waiter=waiter)
    try:
        client.subscribe(REGISTRY_FILTER, qos=1)
        if not waiter.subscribed.wait(STEP_TIMEOUT_S):
            raise ServiceError("restoring the gateways' sessions: no SUBACK from the broker")
        # Retained messages are queued at the SUBACK; a message published after it arrives after them.
        client.publish(waiter.end_marker, b"", qos=1)
        if not waiter.done.wait(STEP_TIMEOUT_S):
            raise ServiceError("restoring the gateways' sessions: the registrations did not arrive")
        sessions = [s for s in (decode(p) for p in waiter.registrations) if s is not None]
        now = datetime.now(UTC)
        for stale in [s for s in sessions if is_stale(s, now)]:
            # Its gateway has not connected for longer than the broker keeps a session: retired.
            client.publish(registry_topic(stale.client_id), b"", qos=1, retain=True).wait_for_publish(STEP_TIMEOUT_S)
        return [s for s in sessions if not is_stale(s, now)]
    finally:
        client.disconnect()
        client.loop_stop()


def rearm_session(host: str, port: int, username: str, password: str, session: GatewaySession) -> None:
    """Connect as the session (resuming it, or making it anew) and subscribe its topics again."""
    waiter = _Waiter()
    client = _client(session.client_id, session.protocol, clean=False, waiter=waiter)
    client.username_pw_set(username, password)
    _connect(client, host, port, session.protocol, clean=False, waiter=waiter)
    try:
        client.subscribe([(t, 1) for t in session.topics])
        if not waiter.subscribed.wait(STEP_TIMEOUT_S):
            raise ServiceError(f"restoring the gateway session {session.client_id}: no SUBACK from the broker")
    finally:
        client.disconnect()
        client.loop_stop()


def restore_gateway_sessions(host: str, port: int, username: str, password: str) -> list[str]:
    """Every registered gateway session subscribed again; their client ids."""
    restored = []
    for session in registered_sessions(host, port, username, password):
        rearm_session(host, port, username, password, session)
        restored.append(session.client_id)
    if restored:
        logger.info("restored the shared subscriptions of %d gateway sessions: %s", len(restored), restored)
    return restored
