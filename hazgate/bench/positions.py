"""`hazgate bench positions`: trackers reporting every second, rules on positions on, to signed webhook.

On a fresh bench site with the demo park's layout and the four position rules (speeding, zone,
stop, off_route): ``trackers`` GPS trackers drive the ring road at 25 km/h (under its 30 km/h
limit), one reading a second each, from a publisher process; a few more trackers speed now and
then (45 km/h, then 20 km/h, so each breach opens a new speeding alert). A ``hazgate serve
--role worker`` process (gateway + alert service, as in production) stores, evaluates against
the layout and delivers; a loopback receiver checks each webhook's signature.

Figures:
- p50/p99 from the speeding reading's publish to its firing webhook; lost and duplicated;
- ``readings_per_s`` stored from the driving trackers, and ``evaluated_behind_s``: how far the
  evaluator's watermarks trail the last stored reading once publishing stops (held: ~0);
- the ceiling, measured in the same run: the pure engine's readings/s with the same rules and
  layout, no I/O (``ceiling_trackers_at_1hz``: how many once-a-second trackers one evaluator
  could judge at most).
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing as mp
import secrets
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import paho.mqtt.client as mqtt
import psycopg
from psycopg.types.json import Jsonb

from alerts.context import EngineContext
from alerts.engine import evaluate_all
from alerts.events import Event, Reading
from alerts.models import Rule, parse_rule
from alerts.state import EngineState
from gateway.mqtt_client import forget_session
from hazgate.bench.alerts import (
    BenchError,
    _evaluator_busy,
    _firing,
    _result_of,
    _start_worker,
    _wait_for,
)
from hazgate.bench.common import (
    BenchDevice,
    connect_device,
    percentile,
    progress,
    register_devices,
    remove_devices,
)
from hazgate.bench.webhook_receiver import Delivery, WebhookReceiver
from hazgate.settings import Settings
from hazgate.simulate.demo_layout import CENTRE_LAT, CENTRE_LON, RING, demo_layout
from park.geometry import LocalFrame, polyline_length_m
from park.layout import build_layout, parse_layout
from park.store import import_layout

CRUISE_KMH: Final = 25.0
SPEEDING_KMH: Final = 45.0
SPEEDERS: Final = 10
IDLE_TIMEOUT_S: Final = 15.0
# Readings the pure engine is timed over for the ceiling (spread over this many trackers).
CEILING_READINGS: Final = 20_000
CEILING_TRACKERS: Final = 500
MAX_OUTSTANDING: Final = 500
CONNECT_TIMEOUT_S: Final = 600.0
# paho runs a network thread per client: a few hundred in one process spend the time switching
# between them, so the driving trackers are spread over processes of this many each.
TRACKERS_PER_PUBLISHER: Final = 100
FRAME: Final = LocalFrame(CENTRE_LON, CENTRE_LAT)
RING_M: Final = polyline_length_m(RING)


def bench_rules(site: str) -> list[dict[str, Any]]:
    return [
        {"name": f"{site} speeding", "kind": "speeding", "severity": "warning", "tolerance_kmh": 5, "site": site},
        {
            "name": f"{site} restricted",
            "kind": "zone",
            "zone_kinds": ["restricted"],
            "severity": "critical",
            "site": site,
        },
        {"name": f"{site} stopped", "kind": "stop", "severity": "critical", "site": site},
        {"name": f"{site} off route", "kind": "off_route", "for_s": 15, "severity": "warning", "site": site},
    ]


def on_ring(distance_m: float) -> tuple[float, float]:
    """lon, lat of the point ``distance_m`` along the ring road's centre line (wrapping)."""
    d = distance_m % RING_M
    for a, b in itertools.pairwise(RING):
        seg = math.hypot(b[0] - a[0], b[1] - a[1])
        if d <= seg:
            f = d / seg
            return FRAME.to_lonlat(a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))
        d -= seg
    return FRAME.to_lonlat(*RING[0])


def _position(distance_m: float, kmh: float) -> dict[str, float]:
    lon, lat = on_ring(distance_m)
    return {"lat": round(lat, 7), "lon": round(lon, 7), "speed_kmh": kmh}


def driving_worker(
    settings: Settings, devices: list[BenchDevice], seconds: float, ready: Any, start_at: Any, result: Any
) -> None:
    """Every tracker one reading a second, spread evenly over the second, driving the ring.

    Connects every tracker first (the broker checks each password hash: about a second per
    few tens of trackers on two cores), says so on ``ready`` and waits for ``start_at``: all
    publisher processes start their load together."""
    clients = [connect_device(settings, d, MAX_OUTSTANDING) for d in devices]
    ready.put(len(clients))
    start_at.wait(CONNECT_TIMEOUT_S)
    pending: deque[mqtt.MQTTMessageInfo] = deque()
    n = len(devices)
    step_m = CRUISE_KMH / 3.6
    sent = 0
    start = time.monotonic()
    while (now := time.monotonic()) < start + seconds:
        due = start + sent / n  # n readings a second in all
        if due > now:
            time.sleep(due - now)
        k = sent % n
        tick = sent // n
        body = {
            "ts": datetime.now(UTC).isoformat(),
            "seq": tick + 1,
            "values": _position(k * 37.0 + tick * step_m, CRUISE_KMH),
        }
        pending.append(clients[k].publish(devices[k].topic, json.dumps(body), qos=1))
        if len(pending) > MAX_OUTSTANDING:
            pending.popleft().wait_for_publish(30)
        sent += 1
    for info in pending:
        info.wait_for_publish(30)
    elapsed = time.monotonic() - start
    for client in clients:
        client.disconnect()
        client.loop_stop()
    result.put({"readings": sent, "seconds": elapsed})


class Speeders:
    """Trackers that speed: a reading at 45 km/h, then one at 20 km/h that resolves it."""

    def __init__(self, settings: Settings, devices: list[BenchDevice]) -> None:
        self.devices = devices
        self.seq = 0
        self.clients = [connect_device(settings, d) for d in devices]

    def breach(self, k: int) -> tuple[str, datetime]:
        device, client = self.devices[k], self.clients[k]
        ts = datetime.now(UTC)
        self.seq += 2
        where = 300.0 + 50.0 * k
        fast = {"ts": ts.isoformat(), "seq": self.seq, "values": _position(where, SPEEDING_KMH)}
        client.publish(device.topic, json.dumps(fast), qos=1)
        slow_ts = ts + timedelta(milliseconds=1)
        slow = {"ts": slow_ts.isoformat(), "seq": self.seq + 1, "values": _position(where + 0.01, 20.0)}
        client.publish(device.topic, json.dumps(slow), qos=1)
        return device.device_id, ts

    def close(self) -> None:
        for client in self.clients:
            client.disconnect()
            client.loop_stop()


def engine_ceiling(site: str) -> dict[str, float]:
    """Readings/s the pure engine judges with the bench's rules on the demo layout (no I/O)."""
    zones, _ = parse_layout(demo_layout(site))
    plates = {f"t{i}": f"浙B{10000 + i}" for i in range(CEILING_TRACKERS)}
    context = EngineContext.of({site: build_layout(site, 1, zones[site])}, plates)
    rules: dict[str, Rule] = {str(i): parse_rule(body) for i, body in enumerate(bench_rules(site))}
    t0 = datetime.now(UTC)
    events: list[Event] = []
    for j in range(CEILING_READINGS):
        k, tick = j % CEILING_TRACKERS, j // CEILING_TRACKERS
        values = _position(k * 37.0 + tick * CRUISE_KMH / 3.6, CRUISE_KMH)
        events.append(Reading(f"t{k}", site, "gps_tracker", t0 + timedelta(seconds=tick), values))
    started = time.perf_counter()
    evaluate_all(rules, EngineState.empty(), events, context)
    elapsed = time.perf_counter() - started
    return {"readings_per_s": CEILING_READINGS / elapsed, "seconds": elapsed}


def _setup(conn: psycopg.Connection, site: str, url: str, secret: str, plates: dict[str, str]) -> tuple[int, list[str]]:
    with conn.transaction():
        for device_id, plate in plates.items():
            conn.execute("UPDATE devices SET plate = %s WHERE device_id = %s", (plate, device_id))
    user = conn.execute(
        "INSERT INTO users (name, role, api_key_hash) VALUES (%s, 'subscriber', %s) RETURNING id",
        (f"{site}-receiver", secrets.token_hex(32)),
    ).fetchone()
    assert user is not None
    conn.execute(
        "INSERT INTO alert_subscriptions (id, owner_id, channel, body, secret) VALUES (%s, %s, 'webhook', %s, %s)",
        (str(uuid.uuid4()), user[0], Jsonb({"channel": "webhook", "url": url, "site": site}), secret),
    )
    rule_ids = []
    for body in bench_rules(site):
        rule_id = str(uuid.uuid4())
        conn.execute("INSERT INTO alert_rules (id, body, created_by) VALUES (%s, %s, 'bench')", (rule_id, Jsonb(body)))
        rule_ids.append(rule_id)
    return int(user[0]), rule_ids


def _teardown(conn: psycopg.Connection, site: str, user_id: int, rule_ids: list[str]) -> None:
    with conn.transaction():
        alerts = "SELECT id FROM alerts WHERE site = %(site)s"
        conn.execute(
            f"DELETE FROM alert_outbox WHERE alert_id IN ({alerts})"  # noqa: S608 - fixed text
            " OR subscription_id IN (SELECT id FROM alert_subscriptions WHERE owner_id = %(user)s)",
            {"site": site, "user": user_id},
        )
        conn.execute(f"DELETE FROM alert_notifications WHERE alert_id IN ({alerts})", {"site": site})  # noqa: S608
        conn.execute("DELETE FROM alerts WHERE site = %s", (site,))
        conn.execute("DELETE FROM alert_subscriptions WHERE owner_id = %s", (user_id,))
        conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
        conn.execute("DELETE FROM alert_rules WHERE id = ANY(%s::uuid[])", (rule_ids,))
        conn.execute("DELETE FROM park_layouts WHERE site = %s", (site,))


def _behind_s(conn: psycopg.Connection, site: str, device_ids: list[str]) -> float | None:
    """Seconds the evaluators' watermarks (saved with each partition) trail the newest stored
    reading, worst tracker."""
    marks: dict[str, datetime] = {}
    for (saved,) in conn.execute("SELECT watermarks FROM alert_partitions").fetchall():
        marks.update({k: datetime.fromisoformat(v) for k, v in dict(saved).items()})
    worst = 0.0
    for device_id, newest in conn.execute(
        "SELECT device_id, max(ts) FROM telemetry WHERE site = %s AND device_id = ANY(%s) GROUP BY device_id",
        (site, device_ids),
    ).fetchall():
        mark = marks.get(device_id)
        if mark is None:
            return None
        worst = max(worst, (newest - mark).total_seconds())
    return worst


def _stored(conn: psycopg.Connection, site: str, device_ids: list[str]) -> tuple[int, float]:
    row = conn.execute(
        "SELECT count(*), extract(epoch FROM max(received_at) - min(received_at)) FROM telemetry"
        " WHERE site = %s AND device_id = ANY(%s)",
        (site, device_ids),
    ).fetchone()
    if row is None or not row[1]:
        return 0, 0.0
    return int(row[0]), float(row[0]) / float(row[1])


def run_positions_bench(
    settings: Settings, *, trackers: int = 300, seconds: float = 30.0, breaches: int = 100
) -> dict[str, Any]:
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        if _evaluator_busy(conn):
            raise BenchError(
                "another alert evaluator is running on this database (a `hazgate serve` with role all or worker)",
                hint="stop it first: the benchmark runs its own worker process, and only one evaluates at a time",
            )
    progress(f"registering {trackers} driving and {SPEEDERS} speeding GPS trackers")
    site, devs = register_devices(settings, trackers + SPEEDERS, "gps_tracker")
    drivers, speeding = devs[:trackers], devs[trackers:]
    import_layout(settings.db_url, demo_layout(site), imported_by="bench")
    progress("ceiling: the pure engine, same rules and layout, no I/O")
    ceiling = engine_ceiling(site)
    progress(f"  ceiling {ceiling['readings_per_s']:.0f} readings/s")
    secret = secrets.token_urlsafe(24)
    plates = {d.device_id: f"浙B{i:05d}" for i, d in enumerate(devs)}
    worker = None
    speeders = None
    publishers: list[mp.Process] = []
    with WebhookReceiver(secret) as receiver, psycopg.connect(settings.db_url, autocommit=True) as conn:
        user_id, rule_ids = _setup(conn, site, receiver.url, secret, plates)
        try:
            worker = _start_worker(settings, site, conn)
            speeders = Speeders(settings, speeding)
            progress("warm-up: one speeding tracker end to end")
            warm_up = _warm_up(speeders, receiver)
            progress(f"{trackers} trackers at 1 reading/s each; {breaches} speeding breaches in {seconds:.0f} s")
            results: mp.Queue[dict[str, Any]] = mp.Queue()
            ready: mp.Queue[int] = mp.Queue()
            start_at = mp.Event()
            chunks = [drivers[i : i + TRACKERS_PER_PUBLISHER] for i in range(0, len(drivers), TRACKERS_PER_PUBLISHER)]
            for chunk in chunks:
                args = (settings, chunk, seconds + 4.0, ready, start_at, results)
                publishers.append(mp.Process(target=driving_worker, args=args))
                publishers[-1].start()
            for _ in chunks:
                ready.get(timeout=CONNECT_TIMEOUT_S)
            start_at.set()
            time.sleep(2.0)
            expected: set[tuple[str, datetime]] = set()
            t0 = time.monotonic()
            for i in range(breaches):
                wait_s = t0 + i * seconds / breaches - time.monotonic()
                if wait_s > 0:
                    time.sleep(wait_s)
                expected.add(speeders.breach(i % len(speeding)))
            done = [_result_of(p, results, seconds + 120) for p in publishers]
            sent = {"readings": sum(d["readings"] for d in done), "seconds": max(d["seconds"] for d in done)}
            progress("waiting for the last webhooks")
            _wait_for(receiver, expected, IDLE_TIMEOUT_S)
            driver_ids = [d.device_id for d in drivers]
            time.sleep(2.0)  # the evaluator's next checkpoint
            behind = _behind_s(conn, site, driver_ids)
            stored_n, stored_rate = _stored(conn, site, driver_ids)
            driving_alerts = conn.execute(
                "SELECT count(*) FROM alerts WHERE site = %s AND device_id = ANY(%s)", (site, driver_ids)
            ).fetchone()
        finally:
            for proc in publishers:
                if proc.is_alive():
                    proc.terminate()  # the load ends with the benchmark, whatever stopped it
            if speeders is not None:
                speeders.close()
            if worker is not None:
                worker.terminate()
                worker.wait(30)
                forget_session(settings, f"{site}-worker")
            progress("removing the bench rules, subscription, alerts, layout, devices and readings")
            _teardown(conn, site, user_id, rule_ids)
        deliveries = [d for d in receiver.deliveries if d.alert_id not in warm_up]
    remove_devices(settings, site)
    return {
        **_figures(expected, deliveries),
        "trackers": trackers,
        "readings_per_s": round(stored_rate),
        "target_readings_per_s": trackers,
        "sent_readings_per_s": round(sent["readings"] / max(sent["seconds"], 1e-9)),
        "readings_stored": stored_n,
        "evaluated_behind_s": None if behind is None else round(behind, 2),
        "false_alerts": int(driving_alerts[0]) if driving_alerts else None,
        "ceiling_readings_per_s": round(ceiling["readings_per_s"]),
        "ceiling_trackers_at_1hz": int(ceiling["readings_per_s"]),
        "ratio": round(stored_rate / ceiling["readings_per_s"], 3),
        "rules": [r["kind"] for r in bench_rules(site)],
        "seconds": seconds,
        "protocol": "MQTT 3.1.1 QoS 1 in; webhook POST signed HMAC-SHA256 out",
    }


def _warm_up(speeders: Speeders, receiver: WebhookReceiver) -> set[str]:
    for _ in range(6):
        probe = {speeders.breach(0)}
        _wait_for(receiver, probe, 5.0)
        if probe <= set(_firing(receiver.deliveries)):
            return {d.alert_id for d in receiver.deliveries}
    raise BenchError("the warm-up alert never reached the webhook receiver", hint="see the worker's log above")


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
        "with_plate_and_zone": sum(
            bool(firing[k].body.get("plate")) and firing[k].body.get("zone_id") == "ring-road"
            for k in expected
            if k in firing
        ),
    }
