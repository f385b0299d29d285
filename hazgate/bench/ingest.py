"""`hazgate bench ingest`: readings/s stored against a bare client's drain rate, same run, same broker.

Three phases on a fresh set of simulated tank sensors (site ``bench-<run>``):
1. ceiling: a bare paho subscriber (QoS 1, no storage) drains what the publishers send;
2. store: the real gateway (its own process) validates, stores and acknowledges the same load;
3. latency: a paced load below capacity; publish-to-row latency per reading from the rows.
Readings/s in phases 1 and 2 are counted from the first publish to the last reading received
(phase 1) or stored (phase 2), so both include the same publishers and broker.
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import time
from typing import Any

import paho.mqtt.client as mqtt
import psycopg

from gateway.mqtt_client import forget_session
from hazgate.bench.common import (
    BenchDevice,
    progress,
    publish_worker,
    register_devices,
    remove_devices,
    service_env,
)
from hazgate.broker_client import new_client
from hazgate.settings import Settings

STORE_SEQ_BASE = 1_000_000_000
LATENCY_SEQ_BASE = 2_000_000_000
# A phase is over when every reading is in, or nothing new arrived for this long.
IDLE_TIMEOUT_S = 10.0


def _ceiling_subscriber(settings: Settings, site: str, ready: Any, expected: Any, out: Any) -> None:
    state = {"n": 0, "first": 0.0, "last": 0.0}

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        now = time.time()
        if state["n"] == 0:
            state["first"] = now
        state["n"] += 1
        state["last"] = now

    client = new_client(settings, f"{site}-ceiling")
    client.on_message = on_message
    client.on_subscribe = lambda *_a: ready.set()
    client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=60)
    client.subscribe(f"hazgate/v1/{site}/devices/+/telemetry", qos=1)
    client.loop_start()
    while True:
        time.sleep(0.05)
        target = expected.value
        idle = state["n"] and time.time() - state["last"] > IDLE_TIMEOUT_S
        if (target and state["n"] >= target) or idle:
            break
    client.disconnect()
    client.loop_stop()
    out.put(state)


def _publish(
    settings: Settings,
    devices: list[BenchDevice],
    publishers: int,
    seconds: float,
    per_message: int,
    seq_base: int,
    rate: float | None,
) -> int:
    results: mp.Queue[dict[str, Any]] = mp.Queue()
    chunks = [devices[i::publishers] for i in range(publishers)]
    per_rate = rate / publishers if rate else None
    procs = [
        mp.Process(
            target=publish_worker,
            args=(settings, chunk, seconds, per_message, seq_base, per_rate, results),
        )
        for chunk in chunks
    ]
    for p in procs:
        p.start()
    sent = sum(int(results.get(timeout=seconds + 120)["readings"]) for _ in procs)
    for p in procs:
        p.join(30)
    return sent


def measure_ceiling(settings: Settings, site: str, devices: list[BenchDevice], **load: Any) -> dict[str, float]:
    ready, expected = mp.Event(), mp.Value("q", 0)
    out: mp.Queue[dict[str, float]] = mp.Queue()
    sub = mp.Process(
        target=_ceiling_subscriber,
        args=(settings, site, ready, expected, out),
    )
    sub.start()
    if not ready.wait(10):
        raise RuntimeError("the ceiling subscriber could not subscribe")
    t0 = time.time()
    sent = _publish(settings, devices, seq_base=0, rate=None, **load)
    expected.value = sent // load["per_message"]
    state = out.get(timeout=300)
    sub.join(10)
    received = state["n"] * load["per_message"]
    return {"sent": sent, "received": received, "readings_per_s": received / max(state["last"] - t0, 1e-9)}


def _gateway(settings: Settings, site: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "hazgate.cli", "serve", "--role", "gateway"]
    return subprocess.Popen(cmd, env=service_env(settings, site, "gateway"))


def _wait_stored(conn: psycopg.Connection, site: str, lo: int, hi: int, expected: int) -> tuple[int, int, float]:
    """Wait until `expected` readings of seq range [lo, hi) are stored; (rows, distinct, last time)."""
    last_n, last_change = -1, time.monotonic()
    while True:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (device_id, seq)), extract(epoch FROM max(received_at))"
            " FROM telemetry WHERE site = %s AND seq >= %s AND seq < %s",
            (site, lo, hi),
        ).fetchone()
        assert row is not None
        n, distinct, last = int(row[0]), int(row[1]), float(row[2] or 0)
        if n != last_n:
            last_n, last_change = n, time.monotonic()
        if distinct >= expected or time.monotonic() - last_change > IDLE_TIMEOUT_S:
            return n, distinct, last
        time.sleep(0.05)


def run_ingest_bench(
    settings: Settings,
    *,
    devices: int = 50,
    seconds: float = 10.0,
    per_message: int = 10,
    publishers: int = 1,
    latency_rate: float = 5000.0,
    latency_seconds: float = 5.0,
) -> dict[str, Any]:
    progress(f"registering {devices} simulated tank sensors")
    site, devs = register_devices(settings, devices)
    load: dict[str, Any] = {"publishers": publishers, "seconds": seconds, "per_message": per_message}
    gateway = None
    try:
        progress(f"phase 1/3: ceiling, a bare subscriber drains {seconds:.0f} s of load")
        ceiling = measure_ceiling(settings, site, devs, **load)
        progress(f"  ceiling {ceiling['readings_per_s']:.0f} readings/s")
        gateway = _gateway(settings, site)
        with psycopg.connect(settings.db_url, autocommit=True) as conn:
            time.sleep(3.0)  # the gateway connects and subscribes
            progress(f"phase 2/3: store, the gateway stores {seconds:.0f} s of the same load")
            t0 = time.time()
            sent = _publish(settings, devs, seq_base=STORE_SEQ_BASE, rate=None, **load)
            rows, distinct, last = _wait_stored(conn, site, STORE_SEQ_BASE, LATENCY_SEQ_BASE, sent)
            stored_per_s = distinct / max(last - t0, 1e-9)
            progress(f"  stored {distinct}/{sent} readings, {stored_per_s:.0f} readings/s")
            progress(f"phase 3/3: latency at a paced {latency_rate:.0f} readings/s for {latency_seconds:.0f} s")
            lat_sent = _publish(
                settings,
                devs,
                publishers=publishers,
                seconds=latency_seconds,
                per_message=per_message,
                seq_base=LATENCY_SEQ_BASE,
                rate=latency_rate,
            )
            lat_rows, lat_distinct, _ = _wait_stored(conn, site, LATENCY_SEQ_BASE, 2**62, lat_sent)
            pct = conn.execute(
                "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
                " (ORDER BY extract(epoch FROM received_at - ts) * 1000)"
                " FROM telemetry WHERE site = %s AND seq >= %s",
                (site, LATENCY_SEQ_BASE),
            ).fetchone()
            assert pct is not None and pct[0] is not None
            p50, p99 = pct[0]
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(15)
            forget_session(settings, f"{site}-gateway")
        progress("removing the bench devices and their readings")
        remove_devices(settings, site)
    lost = (sent - distinct) + (lat_sent - lat_distinct)
    duplicated = (rows - distinct) + (lat_rows - lat_distinct)
    return {
        "readings_per_s": round(stored_per_s),
        "ceiling_readings_per_s": round(ceiling["readings_per_s"]),
        "ratio": round(stored_per_s / ceiling["readings_per_s"], 3),
        "lost": lost,
        "duplicated": duplicated,
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "readings_sent": sent,
        "readings_per_message": per_message,
        "metrics_per_reading": 4,
        "devices": devices,
        "seconds": seconds,
        "latency_rate_readings_per_s": latency_rate,
        "ceiling_lost": ceiling["sent"] - ceiling["received"],
        "protocol": "MQTT 3.1.1, QoS 1",
    }
