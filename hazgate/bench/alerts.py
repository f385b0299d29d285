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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import paho.mqtt.client as mqtt
import psycopg
from psycopg.types.json import Jsonb

from alerts.partitions import MEMBER_LOCK_KEY, PARTITION_LOCK_KEY
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
# The scaling phase: readings per message (so the broker and the gateway are not the limit
# first), seconds and breaches per measurement, the first rate tried and the last.
SCALE_READINGS_PER_MESSAGE: Final = 10
SCALE_SECONDS: Final = 12.0
BREACHES_PER_S: Final = 8.0
SCALE_MAX_RATE: Final = 128_000.0
SCALE_MIN_RATE: Final = 400.0
# Rules every background reading is evaluated against besides the overpressure rule (none fires on
# the background's values): a park watches several metrics of every tank at several levels.
BACKGROUND_RULES: Final[tuple[dict[str, Any], ...]] = (
    {"name": "tank hot", "kind": "threshold", "metric": "tank_temp_c", "op": ">", "value": 60, "severity": "critical"},
    {"name": "tank full", "kind": "threshold", "metric": "tank_level_pct", "op": ">", "value": 95, "severity": "info"},
    {"name": "tank empty", "kind": "threshold", "metric": "tank_level_pct", "op": "<", "value": 5, "severity": "info"},
    {
        "name": "pressure rising",
        "kind": "rate",
        "metric": "tank_pressure_kpa",
        "op": ">",
        "per_s": 50,
        "window_s": 30,
        "severity": "critical",
    },
    {"name": "sensor silent", "kind": "absence", "silence_s": 600, "severity": "warning"},
)
# Rules on the bench site by default: enough that evaluation, not ingest, is what one evaluator
# process cannot keep up with first on a small machine.
DEFAULT_RULES: Final = 24


def background_rules(count: int) -> list[dict[str, Any]]:
    """``count`` rules that never fire on the background's values: BACKGROUND_RULES first, then
    more levels of the same kinds."""
    out: list[dict[str, Any]] = list(BACKGROUND_RULES[:count])
    k = 0
    while len(out) < count:
        k += 1
        kind = BACKGROUND_RULES[k % len(BACKGROUND_RULES)]
        if kind["kind"] == "threshold":
            bound = kind["value"] + (k if kind["op"] == ">" else -min(k, 4))
            out.append({**kind, "name": f"{kind['name']} {k}", "value": min(max(bound, 1), 99)})
        elif kind["kind"] == "rate":
            out.append({**kind, "name": f"{kind['name']} {k}", "per_s": 50 + k, "window_s": 20 + 5 * (k % 6)})
        else:
            out.append({**kind, "name": f"{kind['name']} {k}", "silence_s": 600 + 60 * k})
    return out


# Evaluation capacity: a backlog stored this long at this rate while no evaluator runs.
CAPACITY_BACKLOG_S: Final = 20.0
CAPACITY_LOAD_RATE: Final = 8000.0
OVERPRESSURE: Final = {
    "name": "overpressure",
    "kind": "threshold",
    "metric": "tank_pressure_kpa",
    "op": ">",
    "value": BOUND_KPA,
    "for_s": 0,
    "severity": "critical",
}
# Waiting for evaluation to catch up between measurements, at most this long.
SETTLE_TIMEOUT_S: Final = 180.0


class BenchError(HazgateError):
    pass


_LOCKS_SQL: Final = (
    "SELECT count(*) FILTER (WHERE classid = %s::oid), count(*) FILTER (WHERE classid = %s::oid),"
    " (SELECT alert_partition_count()) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _evaluator_busy(conn: psycopg.Connection) -> bool:
    """Evaluators of another service run on this database (advisory locks belong to a database)."""
    return evaluators_live(conn)[0] > 0


def _start_worker(settings: Settings, site: str, conn: psycopg.Connection) -> subprocess.Popen[bytes]:
    """A `serve --role worker` process (gateway + alert evaluation), once it owns every partition."""
    worker = _serve(settings, site, "worker")
    progress("waiting for the worker (gateway + alert evaluation) to own every partition")
    deadline = time.monotonic() + ACTIVE_TIMEOUT_S
    while not _evaluating(conn, 1):
        if time.monotonic() > deadline or worker.poll() is not None:
            worker.terminate()
            raise BenchError("the worker's alert evaluator did not become active", hint="see its log above")
        time.sleep(0.2)
    return worker


def evaluators_live(conn: psycopg.Connection) -> tuple[int, int, int]:
    """(live evaluator processes, partitions owned, partitions) on this database."""
    row = conn.execute(_LOCKS_SQL, (MEMBER_LOCK_KEY, PARTITION_LOCK_KEY)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _setup(conn: psycopg.Connection, site: str, url: str, secret: str) -> tuple[int, str, list[str]]:
    user = conn.execute(
        "INSERT INTO users (name, role, api_key_hash) VALUES (%s, 'subscriber', %s) RETURNING id",
        (f"{site}-receiver", secrets.token_hex(32)),
    ).fetchone()
    assert user is not None
    sub_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO alert_subscriptions (id, owner_id, channel, body, secret) VALUES (%s, %s, 'webhook', %s, %s)",
        (sub_id, user[0], Jsonb({"channel": "webhook", "url": url, "site": site, "min_severity": "info"}), secret),
    )
    return int(user[0]), sub_id, add_rules(conn, site, [{**OVERPRESSURE, "name": f"{site} overpressure"}])


def add_rules(conn: psycopg.Connection, site: str, rules: Sequence[dict[str, Any]]) -> list[str]:
    ids = []
    for rule in rules:
        rule_id = str(uuid.uuid4())
        body = Jsonb({**rule, "site": site})
        conn.execute("INSERT INTO alert_rules (id, body, created_by) VALUES (%s, %s, 'bench')", (rule_id, body))
        ids.append(rule_id)
    return ids


def _teardown(conn: psycopg.Connection, site: str, user_id: int, rule_ids: list[str]) -> None:
    """Leave the shared database as it was: the bench's alerts, outbox, subscription, user, rules."""
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
        conn.execute("DELETE FROM alert_rules WHERE id = ANY(%s::uuid[])", (rule_ids,))


def _serve(settings: Settings, site: str, role: str, index: int = 0) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "hazgate.cli", "serve", "--role", role]
    return subprocess.Popen(cmd, env=service_env(settings, site, f"{role}{index or ''}"))


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
        # A time stamp of its own for every reading (1 ms apart): readings of one device stamped
        # alike count once for the rules, and the figures are about readings evaluated.
        stamp = datetime.now(UTC)
        body = [
            {"ts": (stamp + timedelta(milliseconds=j)).isoformat(), "seq": seqs[k] + j, "values": NORMAL_VALUES}
            for j in range(per_message)
        ]
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


@dataclass
class _Bench:
    """One bench run's fixtures: its site, sensors, receiver, and the service's processes: one
    gateway (`serve --role gateway`) and the evaluators (`serve --role evaluator`), so that
    evaluation can be stopped and scaled while ingest stays the same."""

    settings: Settings
    site: str
    background: list[BenchDevice]
    publisher: AlertPublisher
    receiver: WebhookReceiver
    conn: psycopg.Connection
    gateway: subprocess.Popen[bytes] | None = None
    evaluator_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # alert ids of earlier measurements

    def start_gateway(self) -> None:
        self.gateway = _serve(self.settings, self.site, "gateway")

    def evaluators(self, n: int) -> float:
        """Run ``n`` evaluator processes; the time.monotonic() they owned every partition."""
        while len(self.evaluator_procs) > n:
            proc = self.evaluator_procs.pop()
            proc.terminate()
            proc.wait(30)
        while len(self.evaluator_procs) < n:
            self.evaluator_procs.append(_serve(self.settings, self.site, "evaluator", len(self.evaluator_procs) + 1))
        progress(f"waiting for {n} evaluator process(es) to share the partitions" if n else "no evaluator running")
        deadline = time.monotonic() + ACTIVE_TIMEOUT_S
        while not _evaluating(self.conn, n):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.evaluator_procs):
                raise BenchError("the evaluator processes did not share the partitions", hint="see their log above")
            time.sleep(0.1)
        return time.monotonic()

    def stop(self) -> None:
        procs = [*self.evaluator_procs, *([self.gateway] if self.gateway else [])]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        self.evaluator_procs.clear()
        if self.gateway is not None:
            forget_session(self.settings, f"{self.site}-gateway")
            self.gateway = None


def run_alerts_bench(
    settings: Settings,
    *,
    background_rate: float = 2000.0,
    alerts: int = 200,
    devices: int = 50,
    seconds: float = 20.0,
    per_message: int = 1,
    evaluators: Sequence[int] = (1, 2),
    rules: int = DEFAULT_RULES,
    scale_per_message: int = SCALE_READINGS_PER_MESSAGE,
    scale_seconds: float = SCALE_SECONDS,
) -> dict[str, Any]:
    """The latency figures at ``background_rate`` with one evaluator; then, for each count of
    ``evaluators``: its evaluation capacity, the highest background rate with p99 under 1 s, and
    p99 at a rate one evaluator cannot keep up with."""
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        if _evaluator_busy(conn):
            raise BenchError(
                "alert evaluators are running on this database (a `hazgate serve` with role all, worker or evaluator)",
                hint="stop them first: the benchmark compares its own evaluator processes",
            )
    progress(f"registering {devices} background and {ALERT_DEVICES} alert tank sensors")
    site, devs = register_devices(settings, devices + ALERT_DEVICES)
    background, breachers = devs[:devices], devs[devices:]
    secret = secrets.token_urlsafe(24)
    bench: _Bench | None = None
    with WebhookReceiver(secret) as receiver, psycopg.connect(settings.db_url, autocommit=True) as conn:
        user_id, _sub_id, rule_ids = _setup(conn, site, receiver.url, secret)
        try:
            bench = _Bench(settings, site, background, AlertPublisher(settings, breachers), receiver, conn)
            bench.start_gateway()
            bench.evaluators(1)
            progress("warm-up: one breach end to end")
            bench.seen |= _warm_up(bench.publisher, receiver)
            figures = _measure(bench, background_rate, per_message, alerts, seconds)
            result: dict[str, Any] = {**figures, "devices": devices, "alert_devices": len(breachers), "rules": 1}
            counts = sorted(set(evaluators))
            if counts != [1]:
                # Heavier evaluation: every reading against ``rules`` rules (none fires on the
                # background), so one evaluator, not the gateway, is what cannot keep up first.
                rule_ids += add_rules(conn, site, background_rules(rules - 1))
                result["evaluators"] = {
                    "rules": rules,
                    **_scaling(bench, counts, scale_per_message, scale_seconds),
                }
        finally:
            if bench is not None:
                bench.stop()
                bench.publisher.close()
            progress("removing the bench rules, subscription, alerts, devices and readings")
            _teardown(conn, site, user_id, rule_ids)
    remove_devices(settings, site)
    return {**result, "protocol": "MQTT 3.1.1 QoS 1 in; webhook POST signed HMAC-SHA256 out"}


def _measure(bench: _Bench, rate: float, per_message: int, alerts: int, seconds: float) -> dict[str, Any]:
    """Background at ``rate`` readings/s while ``alerts`` breaches go out over ``seconds``."""
    progress(f"background {rate:.0f} readings/s ({per_message} per message); {alerts} breaches in {seconds:.0f} s")
    started = datetime.now(UTC)
    bg_result = _background(
        bench, rate, per_message, seconds + 4.0, lambda: _breaches(bench.publisher, alerts, seconds)
    )
    expected = bg_result.pop("breaches")
    progress("waiting for the last webhooks")
    _wait_for(bench.receiver, expected, IDLE_TIMEOUT_S)
    deliveries = [d for d in bench.receiver.deliveries if d.alert_id not in bench.seen]
    bench.seen |= {d.alert_id for d in deliveries}
    stored = _stored_rate(bench.conn, bench.site, [d.device_id for d in bench.background], started)
    figures = {
        **_figures(expected, deliveries),
        **_stages(bench.conn, bench.site, started, deliveries),
        "background_readings_per_s": round(stored),
        "background_sent_per_s": round(bg_result["readings"] / max(bg_result["seconds"], 1e-9)),
        "background_target_per_s": rate,
        "seconds": seconds,
        "readings_per_message": per_message,
    }
    _settle(bench.conn)
    return figures


def _background(
    bench: _Bench, rate: float, per_message: int, seconds: float, during: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """Background readings at ``rate`` for ``seconds`` (in a process of its own); ``during`` runs
    meanwhile, after a 2 s ramp, and its result is returned as ``breaches``."""
    settings = bench.settings
    results: mp.Queue[dict[str, Any]] = mp.Queue()
    load = (settings, bench.background, seconds, rate, per_message)
    bg = mp.Process(target=background_worker, args=(*load, results))
    bg.start()
    breaches = None
    if during is not None:
        time.sleep(2.0)  # the background reaches its steady rate first
        breaches = during()
    result = _result_of(bg, results, seconds + 120)
    return {**result, "breaches": breaches}


def _capacity(bench: _Bench, n: int, backlog_s: float, per_message: int) -> dict[str, Any]:
    """Readings/s ``n`` evaluator processes evaluate: a backlog stored while none runs, then
    the time from their owning every partition to every partition's saved cursor passing it."""
    bench.evaluators(0)
    progress(f"capacity with {n} evaluator(s): storing a {backlog_s:.0f} s backlog with no evaluator running")
    since = datetime.now(UTC)
    sent = _background(bench, CAPACITY_LOAD_RATE, per_message, backlog_s)["readings"]
    ids = [d.device_id for d in bench.background]
    stored = _wait_stored(bench.conn, bench.site, ids, since, sent)
    ingest = _stored_rate(bench.conn, bench.site, ids, since)
    row = bench.conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
    assert row is not None
    owned_at = bench.evaluators(n)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        floor = bench.conn.execute("SELECT min(cursor)::text FROM alert_partitions").fetchone()
        if floor and floor[0] is not None and int(floor[0]) >= int(row[0]):
            break
        time.sleep(0.1)
    took = time.monotonic() - owned_at
    return {
        "evaluators": n,
        "readings": stored,
        "seconds": round(took, 1),
        "readings_per_s": round(stored / took),
        "ingest_readings_per_s": round(ingest),  # how fast the gateway stored the backlog
    }


def _scaling(bench: _Bench, counts: list[int], per_message: int, seconds: float) -> dict[str, Any]:
    """For each evaluator count: capacity (a backlog evaluated with nothing else running), the
    highest background rate with p99 under 1 s (doubling from half of one evaluator's capacity,
    or halving, then one bisection); and p99 with each count at the rate where one evaluator is
    the bottleneck."""
    alerts = max(20, round(seconds * BREACHES_PER_S))
    capacity = [_capacity(bench, n, CAPACITY_BACKLOG_S, per_message) for n in counts]
    one = next((c["readings_per_s"] for c in capacity if c["evaluators"] == 1), capacity[0]["readings_per_s"])
    runs: list[dict[str, Any]] = []
    best: dict[str, float | None] = {}
    for n in counts:
        bench.evaluators(n)
        good, bad, rate = None, None, max(1000.0, round(one / 2, -2))
        while SCALE_MIN_RATE <= rate <= SCALE_MAX_RATE:
            run = {"evaluators": n, **_measure(bench, rate, per_message, alerts, seconds)}
            runs.append(run)
            if _kept_up(run):
                good = rate
                if bad is not None:
                    break
                rate *= 2
            else:
                bad = rate
                if good is not None:
                    break
                rate = round(rate / 2, -2)  # not even the first: look lower
        if good is not None and bad is not None and bad > good * 1.2:
            mid = round((good + bad) / 2, -2)
            run = {"evaluators": n, **_measure(bench, mid, per_message, alerts, seconds)}
            runs.append(run)
            good = mid if _kept_up(run) else good
        best[str(n)] = good
    # Where one evaluator is the bottleneck: the lowest rate one evaluator did not keep up with
    # while evaluation, not ingest, was the slower stage (else the lowest it did not keep up
    # with at all, said so); every other count is measured at that rate too.
    first = counts[0]
    failed = sorted(
        (r for r in runs if r["evaluators"] == first and not _kept_up(r)), key=lambda r: r["background_target_per_s"]
    )
    bound = [r for r in failed if (r["evaluation_p99_ms"] or 0) >= (r["ingest_p99_ms"] or 0)]
    chosen = bound or failed
    bottleneck = chosen[0]["background_target_per_s"] if chosen else 2 * float(best.get(str(first)) or one)
    compared = []
    for n in counts:
        done = next((r for r in runs if r["evaluators"] == n and r["background_target_per_s"] == bottleneck), None)
        if done is None:
            bench.evaluators(n)
            done = {"evaluators": n, **_measure(bench, bottleneck, per_message, alerts, seconds)}
            runs.append(done)
        compared.append(done)
    keys = ("evaluators", "p50_ms", "p99_ms", "ingest_p99_ms", "evaluation_p99_ms", "lost", "background_readings_per_s")
    return {
        "capacity": capacity,
        "bottleneck_rate": bottleneck,
        "evaluation_is_the_bottleneck": bool(bound),
        "at_bottleneck": [{k: r.get(k) for k in keys} for r in compared],
        "max_rate_p99_under_1s": best,
        "readings_per_message": per_message,
        "runs": runs,
    }


def _kept_up(run: dict[str, Any]) -> bool:
    """p99 under 1 s, nothing lost, and the background stored at the rate it was sent."""
    stored_ok = run["background_readings_per_s"] >= 0.9 * run["background_target_per_s"]
    return bool(run["p99_ms"] < 1000 and run["lost"] == 0 and stored_ok)


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


def _evaluating(conn: psycopg.Connection, processes: int) -> bool:
    """``processes`` evaluators live, and every partition owned (none, when 0)."""
    live, owned, total = evaluators_live(conn)
    return live == processes and owned == (total if processes else 0)


def _stored_rate(conn: psycopg.Connection, site: str, device_ids: list[str], since: datetime) -> float:
    """Background readings stored per second over the span they were received."""
    row = conn.execute(
        "SELECT count(*), extract(epoch FROM max(received_at) - min(received_at)) FROM telemetry"
        " WHERE site = %s AND device_id = ANY(%s) AND ts >= %s",
        (site, device_ids, since),
    ).fetchone()
    if row is None or not row[1]:
        return 0.0
    return float(row[0]) / float(row[1])


def _wait_stored(conn: psycopg.Connection, site: str, device_ids: list[str], since: datetime, sent: int) -> int:
    """Until ``sent`` readings stored since ``since`` (or nothing new for IDLE_TIMEOUT_S): how many."""
    last, changed = -1, time.monotonic()
    while True:
        row = conn.execute(
            "SELECT count(*) FROM telemetry WHERE site = %s AND device_id = ANY(%s) AND ts >= %s",
            (site, device_ids, since),
        ).fetchone()
        n = int(row[0]) if row else 0
        if n >= sent or time.monotonic() - changed > IDLE_TIMEOUT_S:
            return n
        if n != last:
            last, changed = n, time.monotonic()
        time.sleep(0.5)


def _stages(conn: psycopg.Connection, site: str, since: datetime, deliveries: list[Delivery]) -> dict[str, Any]:
    """Where the time goes, per breach (p99): publish to stored (the reading's time stamp is
    taken at publishing), stored to queued (evaluation: the outbox row is written in the
    evaluator's transaction), queued to the webhook's arrival (delivery)."""
    rows = conn.execute(
        "SELECT a.id::text, extract(epoch FROM t.received_at - t.ts), extract(epoch FROM o.created_at - t.received_at),"
        " extract(epoch FROM o.created_at)"
        " FROM alerts a JOIN telemetry t ON t.device_id = a.device_id AND t.ts = a.started_at"
        " JOIN alert_outbox o ON o.alert_id = a.id AND o.delivery_key LIKE '%%/firing/%%'"
        " WHERE a.site = %s AND a.started_at >= %s",
        (site, since),
    ).fetchall()
    arrived = {d.alert_id: d.received_at for d in deliveries if d.kind == "firing"}
    ingest = [float(r[1]) * 1000 for r in rows]
    evaluation = [float(r[2]) * 1000 for r in rows]
    delivery = [(arrived[r[0]] - float(r[3])) * 1000 for r in rows if r[0] in arrived]

    def p99(values: list[float]) -> float | None:
        return round(percentile(values, 99), 1) if values else None

    return {"ingest_p99_ms": p99(ingest), "evaluation_p99_ms": p99(evaluation), "delivery_p99_ms": p99(delivery)}


def _settle(conn: psycopg.Connection) -> None:
    """Until everything stored so far is evaluated (saved cursors at most a second behind), so one
    measurement's backlog does not spill into the next."""
    row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
    assert row is not None
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        floor = conn.execute("SELECT min(cursor)::text FROM alert_partitions").fetchone()
        if floor and floor[0] is not None and int(floor[0]) >= int(row[0]):
            return
        time.sleep(0.5)
    progress(f"evaluation still behind after {SETTLE_TIMEOUT_S:.0f} s; measuring on")
