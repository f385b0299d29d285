"""`hazgate bench ingest`: readings/s stored against a bare client's drain rate, same run, same broker.

Three phases on a fresh set of simulated tank sensors (site ``bench-<run>``):
1. ceiling: a bare paho subscriber (QoS 1, no storage) drains what the publishers send;
2. store: the real gateway (its own process) validates, stores and acknowledges the same load:
   alone, then beside an alert evaluator process (`serve --role evaluator`, six rules on the bench
   site), then with evaluation in its own process (`serve --role worker`); ``caught_up_s``: how
   long evaluation took to reach the last reading after it was stored;
3. latency: a paced load below capacity; publish-to-row latency per reading from the rows.
Readings/s in phases 1 and 2 are counted from the first publish to the last reading received
(phase 1) or stored (phase 2), so both include the same publishers and broker.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from psycopg.types.json import Jsonb

from gateway.mqtt_client import forget_session
from hazgate.bench.alerts import BACKGROUND_RULES, OVERPRESSURE
from hazgate.bench.common import (
    TANK_VALUES,
    BenchDevice,
    connect_device,
    progress,
    publish_worker,
    register_devices,
    remove_devices,
    service_env,
)
from hazgate.broker_client import new_client
from hazgate.settings import Settings
from hazgate.topics import DeviceKind, device_filter

STORE_SEQ_BASE = 1_000_000_000
STORE_SEQ_STEP = 300_000_000
PROBE_SEQ_BASE = 3_000_000_000
LATENCY_SEQ_BASE = 2_000_000_000
# The store phase, three times: the gateway alone (the figure of earlier versions), beside an
# evaluator process, and with evaluation in its own process (role worker).
STORE_SETUPS: tuple[tuple[str, ...], ...] = (("gateway",), ("gateway", "evaluator"), ("worker",))
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
    client.subscribe(device_filter(DeviceKind.TELEMETRY, site=site), qos=1)
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


def _add_rules(conn: psycopg.Connection, site: str) -> list[str]:
    """The alerts bench's rules on this site: every stored reading is evaluated against six."""
    ids = []
    for rule in ({**OVERPRESSURE, "name": f"{site} overpressure"}, *BACKGROUND_RULES):
        rule_id = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO alert_rules (id, body, created_by) VALUES (%s, %s, 'bench')",
            (rule_id, Jsonb({**rule, "site": site})),
        )
        ids.append(rule_id)
    return ids


def _caught_up_s(conn: psycopg.Connection, timeout_s: float = 120.0) -> float | None:
    """Seconds until alert evaluation passed everything stored so far (saved cursors)."""
    row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
    assert row is not None
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        floor = conn.execute("SELECT min(cursor)::text FROM alert_partitions").fetchone()
        if floor and floor[0] is not None and int(floor[0]) >= int(row[0]):
            return round(time.monotonic() - start, 1)
        time.sleep(0.1)
    return None


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
    procs: list[subprocess.Popen[bytes]] = []
    try:
        progress(f"phase 1/3: ceiling, a bare subscriber drains {seconds:.0f} s of load")
        ceiling = measure_ceiling(settings, site, devs, **load)
        progress(f"  ceiling {ceiling['readings_per_s']:.0f} readings/s")
        with psycopg.connect(settings.db_url, autocommit=True) as conn:
            rule_ids = _add_rules(conn, site)
            stores = []
            for k, roles in enumerate(STORE_SETUPS):
                progress(f"phase 2/3 ({k + 1}/{len(STORE_SETUPS)}): {' + '.join(roles)} store {seconds:.0f} s of load")
                procs = _serve(settings, site, roles)
                _wait_subscribed(settings, conn, devs[0], PROBE_SEQ_BASE + 1000 * k)
                lo, hi = STORE_SEQ_BASE + k * STORE_SEQ_STEP, STORE_SEQ_BASE + (k + 1) * STORE_SEQ_STEP
                evaluating = bool(set(roles) & {"evaluator", "worker"})
                stores.append(_store(settings, conn, site, devs, load, lo, hi, evaluating=evaluating))
                if k < len(STORE_SETUPS) - 1:
                    _stop(settings, site, procs)
                    procs = []
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
            lat_rows, lat_distinct, _ = _wait_stored(conn, site, LATENCY_SEQ_BASE, PROBE_SEQ_BASE, lat_sent)
            pct = conn.execute(
                "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
                " (ORDER BY extract(epoch FROM received_at - ts) * 1000)"
                " FROM telemetry WHERE site = %s AND seq >= %s AND seq < %s",
                (site, LATENCY_SEQ_BASE, PROBE_SEQ_BASE),
            ).fetchone()
            assert pct is not None and pct[0] is not None
            p50, p99 = pct[0]
    finally:
        _stop(settings, site, procs)
        progress("removing the bench devices, their readings and rules")
        with psycopg.connect(settings.db_url, autocommit=True) as conn:
            conn.execute("DELETE FROM alert_rules WHERE body->>'site' = %s", (site,))
        remove_devices(settings, site)
    alone, beside, inside = stores
    lost = sum(s["sent"] - s["distinct"] for s in stores) + (lat_sent - lat_distinct)
    duplicated = sum(s["rows"] - s["distinct"] for s in stores) + (lat_rows - lat_distinct)
    top = ceiling["readings_per_s"]
    return {
        "readings_per_s": round(alone["per_s"]),
        "ceiling_readings_per_s": round(top),
        "ratio": round(alone["per_s"] / top, 3),
        "lost": lost,
        "duplicated": duplicated,
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "readings_sent": alone["sent"],
        "readings_per_message": per_message,
        "metrics_per_reading": 4,
        "devices": devices,
        "seconds": seconds,
        "latency_rate_readings_per_s": latency_rate,
        "ceiling_lost": ceiling["sent"] - ceiling["received"],
        "alert_evaluation": {
            "rules": len(rule_ids),
            # the gateway beside an evaluator process (roles gateway + evaluator)
            "readings_per_s": round(beside["per_s"]),
            "ratio": round(beside["per_s"] / top, 3),
            "caught_up_s": beside["caught_up_s"],
            # evaluation inside the gateway's process (role worker, or all)
            "in_gateway_process_readings_per_s": round(inside["per_s"]),
            "in_gateway_process_ratio": round(inside["per_s"] / top, 3),
            "in_gateway_process_caught_up_s": inside["caught_up_s"],
        },
        "protocol": "MQTT 3.1.1, QoS 1",
    }


def _gateway(settings: Settings, site: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "hazgate.cli", "serve", "--role", "gateway"]
    return subprocess.Popen(cmd, env=service_env(settings, site, "gateway"))


def _serve(settings: Settings, site: str, roles: tuple[str, ...]) -> list[subprocess.Popen[bytes]]:
    procs = []
    for role in roles:
        cmd = [sys.executable, "-m", "hazgate.cli", "serve", "--role", role]
        # Every process with a gateway gets the client id "<site>-gateway" (one at a time here).
        name = "gateway" if role in ("gateway", "worker") else role
        procs.append(subprocess.Popen(cmd, env=service_env(settings, site, name)))
    return procs


def _wait_subscribed(settings: Settings, conn: psycopg.Connection, device: BenchDevice, seq: int) -> None:
    """Until a probe reading published now is stored: the gateway has subscribed (a message
    published to a shared subscription nobody holds yet is not kept for anyone)."""
    client = connect_device(settings, device)
    try:
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            seq += 1
            body = [{"ts": datetime.now(UTC).isoformat(), "seq": seq, "values": TANK_VALUES}]
            client.publish(device.topic, json.dumps(body), qos=1).wait_for_publish(10)
            for _ in range(10):
                time.sleep(0.1)
                row = conn.execute(
                    "SELECT 1 FROM telemetry WHERE device_id = %s AND seq = %s", (device.device_id, seq)
                ).fetchone()
                if row:
                    return
        raise RuntimeError("the gateway did not start storing within 60 s")
    finally:
        client.disconnect()
        client.loop_stop()


def _stop(settings: Settings, site: str, procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(15)
    if procs:
        forget_session(settings, f"{site}-gateway")


def _store(
    settings: Settings,
    conn: psycopg.Connection,
    site: str,
    devs: list[BenchDevice],
    load: dict[str, Any],
    lo: int,
    hi: int,
    *,
    evaluating: bool,
) -> dict[str, Any]:
    t0 = time.time()
    sent = _publish(settings, devs, seq_base=lo, rate=None, **load)
    rows, distinct, last = _wait_stored(conn, site, lo, hi, sent)
    per_s = distinct / max(last - t0, 1e-9)
    progress(f"  stored {distinct}/{sent} readings, {per_s:.0f} readings/s")
    caught_up_s = _caught_up_s(conn) if evaluating else None
    if evaluating:
        progress(f"  alert evaluation caught up {caught_up_s} s after the last reading was stored")
    return {"sent": sent, "rows": rows, "distinct": distinct, "per_s": per_s, "caught_up_s": caught_up_s}
