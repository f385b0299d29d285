"""`hazgate bench alerts`: publish to signed webhook, with telemetry flowing in the background.

On a fresh bench site: background tank sensors publish a steady ``background_rate`` readings/s
that break nothing, while a few alert sensors publish readings over a threshold rule's bound
(each followed by a normal one, so every breach opens a new alert). A ``hazgate serve --role
worker`` process (gateway + alert service, its own process as in production) stores, evaluates
and delivers; a loopback webhook receiver verifies each signature. Latency per alert: from the
reading's time stamp (set when it is published) to the arrival of its ``firing`` webhook. Lost:
breaches without a firing delivery; duplicated: deliveries whose X-Hazgate-Delivery was seen.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
import secrets
import subprocess
import sys
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any, Final

import paho.mqtt.client as mqtt
import psycopg
from psycopg.types.json import Jsonb

from alerts.service import EVALUATOR_LOCK_KEY
from gateway.mqtt_client import forget_session
from hazgate.bench.common import (
    BenchDevice,
    connect_device,
    percentile,
    progress,
    register_devices,
    remove_devices,
    service_env,
)
from hazgate.bench.webhook_receiver import Delivery, WebhookReceiver
from hazgate.errors import HazgateError
from hazgate.settings import Settings

BREACH_KPA: Final = 1700.0
BOUND_KPA: Final = 1600.0
NORMAL_VALUES: Final = {"tank_pressure_kpa": 812.5, "tank_temp_c": 18.25, "tank_level_pct": 64.0}
# After the last breach, wait this long without a new delivery before counting what is missing.
IDLE_TIMEOUT_S: Final = 15.0
ACTIVE_TIMEOUT_S: Final = 90.0
ALERT_DEVICES: Final = 10
# Unacknowledged publishes per background publisher before it waits: bounds paho's memory.
MAX_OUTSTANDING: Final = 500


class BenchError(HazgateError):
    pass


def _evaluator_busy(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        # Advisory locks belong to a database: evaluators of other databases on the server do not count.
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = %s AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (EVALUATOR_LOCK_KEY,),
    ).fetchone()
    return bool(row and row[0])


def _setup(conn: psycopg.Connection, site: str, url: str, secret: str) -> tuple[int, str, str]:
    user = conn.execute(
        "INSERT INTO users (name, role, api_key_hash) VALUES (%s, 'subscriber', %s) RETURNING id",
        (f"{site}-receiver", secrets.token_hex(32)),
    ).fetchone()
    assert user is not None
    sub_id, rule_id = str(uuid.uuid4()), str(uuid.uuid4())
    conn.execute(
        "INSERT INTO alert_subscriptions (id, owner_id, channel, body, secret) VALUES (%s, %s, 'webhook', %s, %s)",
        (sub_id, user[0], Jsonb({"channel": "webhook", "url": url, "site": site, "min_severity": "info"}), secret),
    )
    rule = {
        "name": f"{site} overpressure",
        "kind": "threshold",
        "metric": "tank_pressure_kpa",
        "op": ">",
        "value": BOUND_KPA,
        "for_s": 0,
        "severity": "critical",
        "site": site,
    }
    conn.execute("INSERT INTO alert_rules (id, body, created_by) VALUES (%s, %s, 'bench')", (rule_id, Jsonb(rule)))
    return int(user[0]), sub_id, rule_id


def _teardown(conn: psycopg.Connection, site: str, user_id: int, rule_id: str) -> None:
    """Leave the shared database as it was: the bench's alerts, outbox, subscription, user, rule."""
    with conn.transaction():
        conn.execute(
            "DELETE FROM alert_outbox WHERE alert_id IN (SELECT id FROM alerts WHERE site = %(site)s)"
            " OR subscription_id IN (SELECT id FROM alert_subscriptions WHERE owner_id = %(user)s)",
            {"site": site, "user": user_id},
        )
        conn.execute(
            "DELETE FROM alert_notifications WHERE alert_id IN (SELECT id FROM alerts WHERE site = %s)", (site,)
        )
        conn.execute("DELETE FROM alerts WHERE site = %s", (site,))
        conn.execute("DELETE FROM alert_subscriptions WHERE owner_id = %s", (user_id,))
        conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
        conn.execute("DELETE FROM alert_rules WHERE id = %s", (rule_id,))


def _worker(settings: Settings, site: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "hazgate.cli", "serve", "--role", "worker"]
    return subprocess.Popen(cmd, env=service_env(settings, site, "worker"))


def background_worker(
    settings: Settings, devices: list[BenchDevice], seconds: float, rate: float, per_message: int, result: Any
) -> None:
    """Steady telemetry that breaks nothing: ``rate`` readings/s round-robin over ``devices``."""
    clients = [connect_device(settings, d, MAX_OUTSTANDING) for d in devices]
    pending: deque[mqtt.MQTTMessageInfo] = deque()
    seqs = [0] * len(devices)
    sent = 0
    start = time.monotonic()
    while (now := time.monotonic()) < start + seconds:
        due = start + sent / rate
        if due > now:
            time.sleep(due - now)
        k = (sent // per_message) % len(devices)
        ts = datetime.now(UTC).isoformat()
        body = [{"ts": ts, "seq": seqs[k] + j, "values": NORMAL_VALUES} for j in range(per_message)]
        seqs[k] += per_message
        pending.append(clients[k].publish(devices[k].topic, json.dumps(body), qos=1))
        if len(pending) > MAX_OUTSTANDING:
            pending.popleft().wait_for_publish(30)  # bounded: "sent" means the broker has it
        sent += per_message
    for info in pending:
        info.wait_for_publish(30)
    elapsed = time.monotonic() - start
    for client in clients:
        client.disconnect()
        client.loop_stop()
    result.put({"readings": sent, "seconds": elapsed})


class AlertPublisher:
    """The sensors that breach: one paho client each, breach then normal reading."""

    def __init__(self, settings: Settings, devices: list[BenchDevice]) -> None:
        self.devices = devices
        self.seq = 0
        self.clients = [connect_device(settings, d) for d in devices]

    def breach(self, k: int) -> tuple[str, datetime]:
        """Publish an over-bound reading then a normal one; return (device, time stamp of the breach)."""
        device, client = self.devices[k], self.clients[k]
        ts = datetime.now(UTC)
        self.seq += 2
        body = [
            {"ts": ts.isoformat(), "seq": self.seq, "values": {**NORMAL_VALUES, "tank_pressure_kpa": BREACH_KPA}},
        ]
        client.publish(device.topic, json.dumps(body), qos=1)
        # The normal reading 1 ms later resolves it, so the next breach opens a new alert.
        normal = datetime.fromtimestamp(ts.timestamp() + 0.001, UTC)
        client.publish(
            device.topic, json.dumps([{"ts": normal.isoformat(), "seq": self.seq + 1, "values": NORMAL_VALUES}]), qos=1
        )
        return device.device_id, ts

    def close(self) -> None:
        for client in self.clients:
            client.disconnect()
            client.loop_stop()


def _firing(deliveries: list[Delivery]) -> dict[tuple[str, datetime], Delivery]:
    """First firing delivery per (device, started_at)."""
    out: dict[tuple[str, datetime], Delivery] = {}
    for d in deliveries:
        if d.kind == "firing" and d.signature_ok:
            key = (str(d.body.get("device_id")), datetime.fromisoformat(str(d.body.get("started_at"))))
            out.setdefault(key, d)
    return out


def _wait_for(receiver: WebhookReceiver, expected: set[tuple[str, datetime]], idle_s: float) -> None:
    last_n, last_change = -1, time.monotonic()
    while True:
        got = _firing(receiver.deliveries)
        if expected <= set(got):
            return
        n = len(receiver.deliveries)
        if n != last_n:
            last_n, last_change = n, time.monotonic()
        if time.monotonic() - last_change > idle_s:
            return
        time.sleep(0.1)


def run_alerts_bench(
    settings: Settings,
    *,
    background_rate: float = 2000.0,
    alerts: int = 200,
    devices: int = 50,
    seconds: float = 20.0,
    per_message: int = 1,
) -> dict[str, Any]:
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        if _evaluator_busy(conn):
            raise BenchError(
                "another alert evaluator is running on this database (a `hazgate serve` with role all or worker)",
                hint="stop it first: the benchmark runs its own worker process, and only one evaluates at a time",
            )
    progress(f"registering {devices} background and {ALERT_DEVICES} alert tank sensors")
    site, devs = register_devices(settings, devices + ALERT_DEVICES)
    background, breachers = devs[:devices], devs[devices:]
    secret = secrets.token_urlsafe(24)
    worker = None
    publisher = None
    with WebhookReceiver(secret) as receiver, psycopg.connect(settings.db_url, autocommit=True) as conn:
        user_id, _sub_id, rule_id = _setup(conn, site, receiver.url, secret)
        try:
            worker = _start_worker(settings, site, conn)
            publisher = AlertPublisher(settings, breachers)
            progress("warm-up: one breach end to end")
            warm_up = _warm_up(publisher, receiver)
            progress(
                f"background {background_rate:.0f} readings/s, {devices} sensors; {alerts} breaches in {seconds:.0f} s"
            )
            results: mp.Queue[dict[str, Any]] = mp.Queue()
            load = (settings, background, seconds + 4.0, background_rate, per_message)
            bg = mp.Process(target=background_worker, args=(*load, results))
            bg.start()
            time.sleep(2.0)  # the background reaches its steady rate first
            expected = _breaches(publisher, alerts, seconds)
            bg_result = _result_of(bg, results, seconds + 120)
            progress("waiting for the last webhooks")
            _wait_for(receiver, expected, IDLE_TIMEOUT_S)
            stored = _stored_rate(conn, site, [d.device_id for d in background])
        finally:
            if publisher is not None:
                publisher.close()
            if worker is not None:
                worker.terminate()
                worker.wait(30)
                forget_session(settings, f"{site}-worker")
            progress("removing the bench rule, subscription, alerts, devices and readings")
            _teardown(conn, site, user_id, rule_id)
        deliveries = [d for d in receiver.deliveries if d.alert_id not in warm_up]
    remove_devices(settings, site)
    return {
        **_figures(expected, deliveries),
        "background_readings_per_s": round(stored),
        "background_sent_per_s": round(bg_result["readings"] / max(bg_result["seconds"], 1e-9)),
        "background_target_per_s": background_rate,
        "devices": devices,
        "alert_devices": len(breachers),
        "seconds": seconds,
        "readings_per_message": per_message,
        "protocol": "MQTT 3.1.1 QoS 1 in; webhook POST signed HMAC-SHA256 out",
    }


def _start_worker(settings: Settings, site: str, conn: psycopg.Connection) -> subprocess.Popen[bytes]:
    started = datetime.now(UTC)
    worker = _worker(settings, site)
    progress("waiting for the worker (gateway + alert service) to take over evaluation")
    deadline = time.monotonic() + ACTIVE_TIMEOUT_S
    while not _active_since(conn, started):
        if time.monotonic() > deadline or worker.poll() is not None:
            worker.terminate()
            raise BenchError("the worker's alert evaluator did not become active", hint="see its log above")
        time.sleep(0.2)
    return worker


def _breaches(publisher: AlertPublisher, alerts: int, seconds: float) -> set[tuple[str, datetime]]:
    """``alerts`` breaches evenly over ``seconds``, round-robin over the alert sensors."""
    expected: set[tuple[str, datetime]] = set()
    t0 = time.monotonic()
    for i in range(alerts):
        wait_s = t0 + i * seconds / alerts - time.monotonic()
        if wait_s > 0:
            time.sleep(wait_s)
        expected.add(publisher.breach(i % len(publisher.devices)))
    return expected


def _figures(expected: set[tuple[str, datetime]], deliveries: list[Delivery]) -> dict[str, Any]:
    firing = _firing(deliveries)
    latencies = [(firing[k].received_at - k[1].timestamp()) * 1000 for k in expected if k in firing]
    ids = [d.delivery_id for d in deliveries if d.answered < 300]
    return {
        "alerts": len(expected),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "lost": len(expected - set(firing)),
        "duplicated": len(ids) - len(set(ids)),
        "bad_signatures": sum(not d.signature_ok for d in deliveries),
        "resolved_delivered": sum(d.kind == "resolved" for d in deliveries),
    }


def _result_of(proc: mp.Process, results: mp.Queue[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result = results.get(timeout=0.5)
        except queue.Empty:
            if not proc.is_alive():
                raise BenchError("the background publisher died", hint="see its traceback above") from None
            continue
        proc.join(30)
        return result
    raise BenchError(f"the background publisher did not finish within {timeout_s:.0f} s")


def _warm_up(publisher: AlertPublisher, receiver: WebhookReceiver) -> set[str]:
    """One breach through the whole path, retried as the worker may still be subscribing; the
    alert ids of the warm-up, left out of the figures."""
    for _ in range(6):
        probe = {publisher.breach(0)}
        _wait_for(receiver, probe, 5.0)
        if probe <= set(_firing(receiver.deliveries)):
            return {d.alert_id for d in receiver.deliveries}
    raise BenchError("the warm-up alert never reached the webhook receiver", hint="see the worker's log above")


def _active_since(conn: psycopg.Connection, since: datetime) -> bool:
    row = conn.execute("SELECT saved_at FROM alert_engine_state").fetchone()
    return bool(row and row[0] >= since)


def _stored_rate(conn: psycopg.Connection, site: str, device_ids: list[str]) -> float:
    """Background readings stored per second over the span they were received."""
    row = conn.execute(
        "SELECT count(*), extract(epoch FROM max(received_at) - min(received_at)) FROM telemetry"
        " WHERE site = %s AND device_id = ANY(%s)",
        (site, device_ids),
    ).fetchone()
    if row is None or not row[1]:
        return 0.0
    return float(row[0]) / float(row[1])
