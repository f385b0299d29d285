"""A one-shot MQTT connect, to tell whether the broker is up and accepts our credentials."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from hazgate.broker_client import diagnose, explain, new_client, unique_client_id
from hazgate.settings import Settings


def probe_broker(
    settings: Settings, *, username: str | None = None, password: str = "", timeout_s: float = 3.0
) -> str | None:
    """None when a CONNECT (over TLS for mqtts://) with these credentials succeeds, otherwise why
    it did not. Without ``username``: the service account of ``settings``."""
    # TCP and TLS first, on sockets of our own: a refused certificate is explained, and paho
    # (which leaves a failed TLS socket to the garbage collector) is only used past that point.
    problem = diagnose(settings, timeout_s)
    if problem is not None:
        return problem.message
    result: list[str | None] = []
    done = threading.Event()
    client = new_client(settings, unique_client_id("probe"), username=username, password=password)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        result.append(None if not reason.is_failure else f"the broker refused the connection: {reason}")
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=10)
    except OSError as exc:
        return explain(settings, exc).message
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return f"no CONNACK from {settings.mqtt_host}:{settings.mqtt_port} within {timeout_s} s"
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]
