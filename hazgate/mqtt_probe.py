"""A one-shot MQTT connect, to tell whether the broker is up and accepts our credentials."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode


def probe_broker(host: str, port: int, username: str, password: str, timeout_s: float = 3.0) -> str | None:
    """None when a CONNECT with these credentials succeeds, otherwise why it did not."""
    result: list[str | None] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set(username, password)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        result.append(None if not reason.is_failure else str(reason))
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc}"
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return f"no CONNACK from {host}:{port} within {timeout_s} s"
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]
