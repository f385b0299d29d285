"""The service and two more workers, with faults: a worker killed mid-stream, the database
restarted, the broker killed with SIGKILL and restarted. Fifty devices keep publishing; twenty of
them breach once. Every reading acknowledged to a device is stored once (but for what
docs/protocol.md allows for the instant of a SIGKILL), every breach is alerted once and announced
once to each subscriber, nothing is given up.

Real processes (`hazgate serve` and `hazgate serve --role worker`, default settings: each
gateway claims a client id of its own), a broker of the test's own (killed and restarted the way
`hazgate services up` starts it) and the test PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from psycopg.types.json import Jsonb

from devices import registry
from gateway.mqtt_client import forget_session
from hazgate.bench.webhook_receiver import WebhookReceiver
from hazgate.services.local import LocalServices, ensure_secrets
from hazgate.settings import Settings
from tests.fixtures import mqtt as devices_fixture
from tests.fixtures.alerts import TANK
from tests.fixtures.mqtt import wait_until
from tests.fixtures.processes import OwnBroker
from tests.fixtures.services import free_port

DEVICES = 50
BREACHING = 20
PUBLISH_S = 36.0
STEP_S = 0.25  # each device reports every STEP_S
BREACH_STEPS = 6  # readings over the bound per breach (1.5 s)
BOUND_KPA = 1600.0


@dataclass
class Cluster:
    """`hazgate serve` (role all) plus workers, as subprocesses with the same default settings."""

    settings: Settings
    logs: Path
    api_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAZGATE_")}
        env.update(
            {
                "HAZGATE_STATE_DIR": str(self.settings.state_dir),
                "HAZGATE_SERVICES__DB_PORT": str(self.settings.services.db_port),
                "HAZGATE_SERVICES__MQTT_PORT": str(self.settings.services.mqtt_port),
                "HAZGATE_DATABASE_URL": self.settings.db_url,
                "HAZGATE_MQTT_URL": self.settings.mqtt_url or "",
                "HAZGATE_API_PORT": str(self.api_port),
                "HAZGATE_LOG_LEVEL": "INFO",
                # Its JT/T 808 listener on any free port: test sessions run beside a demo.
                "HAZGATE_JT808__PORT": "0",
            }
        )
        return env

    def start(self, name: str, role: str) -> None:
        cmd = [sys.executable, "-m", "hazgate.cli", "serve", "--role", role]
        with (self.logs / f"{name}.log").open("ab") as log:
            # A session of its own: the kill takes its face workers too, as a machine crash would.
            self.procs[name] = subprocess.Popen(
                cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)  # no flush, no acknowledgements, no unlock, no goodbye
        proc.wait(10)

    def health(self) -> dict[str, Any]:
        try:
            return httpx.get(f"http://127.0.0.1:{self.api_port}/healthz", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return {}

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of its session is left
        # The sessions their default client ids claimed: the broker stops keeping them.
        for log in self.logs.glob("*.log"):
            for client_id in set(re.findall(r"connected to the broker as (\S+)", log.read_text(errors="replace"))):
                forget_session(self.settings, client_id)


@dataclass
class Fleet:
    """Fifty tank sensors publishing every STEP_S; the breaching ones go over the bound once."""

    devices: list[devices_fixture.TestDevice]
    breach_at: dict[str, int]  # device -> step its breach starts
    sent: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # time.monotonic() each step began
    # Each reading's message id, and the ids the broker acknowledged (PUBACK), per device. While
    # the broker is away the device's MQTT library keeps a reading and sends it again on reconnecting.
    mids: dict[tuple[str, int], int] = field(default_factory=dict)
    acked: dict[str, set[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for device in self.devices:
            assert device.client is not None
            self.acked[device.device_id] = set()
            device.client.on_publish = partial(self._on_publish, device.device_id)

    def _on_publish(self, device_id: str, _c: object, _u: object, mid: int, *_rest: object) -> None:
        with self.lock:
            self.acked[device_id].add(mid)

    def run(self, steps: int) -> None:
        base = datetime.now(UTC) - timedelta(minutes=10)  # time stamps of their own, strictly rising
        for step in range(steps):
            started = time.monotonic()
            self.started.append(started)
            for device in self.devices:
                start = self.breach_at.get(device.device_id)
                high = start is not None and start <= step < start + BREACH_STEPS
                kpa = 1700.0 + step if high else 800.0
                reading = device.reading({**TANK, "tank_pressure_kpa": kpa}, base + timedelta(seconds=step))
                assert device.client is not None
                # Not under self.lock: paho calls on_publish holding its own lock, which publish()
                # takes too. A PUBACK seen before the mid is noted here still counts (a set of mids).
                info = device.client.publish(device.topic("telemetry"), json.dumps(reading), qos=1)
                with self.lock:
                    self.mids[(device.device_id, reading["seq"])] = info.mid
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: kept, sent later
                    self.errors.append(f"{device.device_id}: {mqtt.error_string(info.rc)}")
                    continue
                self.sent[device.device_id] = self.sent.get(device.device_id, 0) + 1
            time.sleep(max(0.0, STEP_S - (time.monotonic() - started)))

    def acknowledged(self) -> set[tuple[str, int]]:
        with self.lock:
            return {key for key, mid in self.mids.items() if mid in self.acked[key[0]]}

    def steps_between(self, start: float, end: float) -> set[int]:
        """Steps (= seqs, 1-based) that began in [start, end] (time.monotonic())."""
        return {k + 1 for k, t in enumerate(self.started) if start <= t <= end}


def register_fleet(broker: OwnBroker, site: str) -> list[devices_fixture.TestDevice]:
    made = []
    with psycopg.connect(broker.settings.db_url) as conn:
        for i in range(DEVICES):
            creds = registry.add_device(conn, site, f"{site}-{i:02d}", "tank_sensor", None, None)
            made.append(devices_fixture.TestDevice(creds.device_id, site, creds.password, broker.settings))
    broker.up()  # with the fleet's accounts, as `hazgate devices add` then `services up` give them
    for device in made:
        device.connect()
    wait_until(lambda: all(d.client is not None and d.client.is_connected() for d in made), 60)
    return made


def all_evaluating(cluster: Cluster, processes: int) -> bool:
    """/healthz of the service: that many evaluator processes, no partition without an owner."""
    alerts = cluster.health().get("alerts") or {}
    return alerts.get("evaluators") == processes and alerts.get("unowned_partitions") == 0


def restart_database(local_services: LocalServices) -> None:
    local_services.db.down()
    time.sleep(2.0)  # readings keep arriving while it is away
    secrets = ensure_secrets(local_services.settings.state_dir)
    local_services.db.up(secrets["db_superuser_password"], secrets["db_password"])


def alerted(receiver: WebhookReceiver) -> int:
    return len({d.alert_id for d in receiver.accepted() if d.kind == "firing"})


def query(settings: Settings, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
    """One query on a fresh connection, retried while the database is restarting (ours, or another
    test session's on the shared test server)."""
    for _ in range(60):
        try:
            with psycopg.connect(settings.db_url, autocommit=True, connect_timeout=5) as conn:
                return conn.execute(sql, params).fetchall()
        except psycopg.OperationalError:
            time.sleep(1.0)
    raise AssertionError("the test database stayed unreachable for a minute")


def counts(settings: Settings, site: str) -> dict[str, tuple[int, int]]:
    rows = query(
        settings,
        "SELECT device_id, count(*), count(DISTINCT seq) FROM telemetry WHERE site = %s GROUP BY device_id",
        (site,),
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def explain_loss(settings: Settings, site: str, expected: dict[str, int], fleet: Fleet, t0: float, logs: Path) -> str:
    stored = counts(settings, site)
    gaps = {d: (n, stored.get(d, (0, 0))) for d, n in expected.items() if stored.get(d, (0, 0))[0] != n}
    seqs = query(settings, "SELECT device_id, array_agg(seq) FROM telemetry WHERE site = %s GROUP BY 1", (site,))
    holes = {d: sorted(set(range(1, expected[d] + 1)) - set(got))[:20] for d, got in seqs}
    rejected = query(
        settings, "SELECT reason, count(*), min(detail) FROM rejected WHERE device_id LIKE %s GROUP BY 1", (site + "%",)
    )
    steps_at = [round(t - t0, 2) for t in fleet.started]
    tails = {p.name: p.read_text()[-4000:] for p in logs.glob("*.log")}
    return (
        f"stored != sent: {gaps}; missing seqs: { {d: h for d, h in holes.items() if h} }; rejected: {rejected};"
        f" steps began at {steps_at} s; logs: {tails}"
    )


def explain_alerts(
    settings: Settings, site: str, receivers: list[WebhookReceiver], cluster: Cluster, logs: Path
) -> str:
    raised = query(settings, "SELECT device_id, state FROM alerts WHERE site = %s ORDER BY device_id", (site,))
    outbox = query(
        settings,
        "SELECT o.attempts, o.delivered_at IS NOT NULL, o.gave_up_at IS NOT NULL, o.last_error FROM alert_outbox o"
        " JOIN alerts a ON a.id = o.alert_id WHERE a.site = %s",
        (site,),
    )
    alive = {name: proc.poll() for name, proc in cluster.procs.items()}
    tails = {p.name: p.read_text(errors="replace")[-3000:] for p in logs.glob("*.log")}
    return (
        f"webhooks: {[alerted(r) for r in receivers]} of {BREACHING}; alerts raised: {len(raised)} {raised};"
        f" outbox (attempts, delivered, gave up, error): {outbox}; processes (None = running): {alive};"
        f" health: {cluster.health()}; logs: {tails}"
    )


@pytest.mark.timeout(300)
def test_service_and_two_workers_survive_a_killed_worker_a_database_restart_and_a_broker_crash(
    settings, local_services, tmp_path
):
    site = f"fault{uuid.uuid4().hex[:6]}"
    broker = OwnBroker(settings, local_services, tmp_path / "broker")
    settings = broker.settings  # everything below talks to the test's own broker
    cluster = Cluster(settings, tmp_path)
    devices = register_fleet(broker, site)
    steps = int(PUBLISH_S / STEP_S)
    # Breaches spread over the run, several of them across the faults.
    breach_at = {d.device_id: 8 + (k * (steps - 24)) // BREACHING for k, d in enumerate(devices[:BREACHING])}
    fleet = Fleet(devices, breach_at)
    receivers = [WebhookReceiver(f"duty-{k}") for k in range(2)]
    for receiver in receivers:
        receiver.__enter__()
    try:
        with psycopg.connect(settings.db_url, autocommit=True) as conn:
            owner = conn.execute(
                "INSERT INTO users (name, role, api_key_hash) VALUES (%s, 'admin', %s) RETURNING id",
                (f"{site}-duty", uuid.uuid4().hex),
            ).fetchone()
            assert owner is not None
            rule = {
                "name": "overpressure",
                "kind": "threshold",
                "metric": "tank_pressure_kpa",
                "op": ">",
                "value": BOUND_KPA,
                "clear_value": 1500,
                "severity": "critical",
                "site": site,
            }
            conn.execute(
                "INSERT INTO alert_rules (id, body, created_by) VALUES (%s, %s, 'test')", (uuid.uuid4(), Jsonb(rule))
            )
            for receiver in receivers:
                body = {"channel": "webhook", "url": receiver.url, "site": site}
                conn.execute(
                    "INSERT INTO alert_subscriptions (id, owner_id, channel, body, secret)"
                    " VALUES (%s, %s, 'webhook', %s, %s)",
                    (uuid.uuid4(), owner[0], Jsonb(body), receiver.secret),
                )

        cluster.start("service", "all")
        cluster.start("w1", "worker")
        cluster.start("w2", "worker")
        wait_until(lambda: all_evaluating(cluster, 3), 120, interval_s=0.5)
        time.sleep(2.0)  # every gateway subscribed to the shared group

        # Faults, at seconds into the stream.
        killed_at: list[float] = []

        def crash_broker() -> None:
            killed_at.append(time.monotonic())
            broker.crash()

        faults: list[tuple[str, float, Callable[[], None]]] = [
            ("worker w1 killed with SIGKILL", 8.0, lambda: cluster.kill("w1")),
            ("worker w1 started again, as its supervisor would", 13.0, lambda: cluster.start("w1", "worker")),
            ("database restarted", 18.0, lambda: restart_database(local_services)),
            ("broker killed with SIGKILL", 25.0, crash_broker),
            ("broker started again, as `hazgate services up` does", 27.0, broker.up),
        ]
        publisher = threading.Thread(target=fleet.run, args=(steps,), daemon=True)
        t0 = time.monotonic()
        publisher.start()
        for _name, at_s, fault in faults:
            time.sleep(max(0.0, t0 + at_s - time.monotonic()))
            fault()
        publisher.join(PUBLISH_S + 120)
        assert not fleet.errors, fleet.errors[:5]
        # Every reading reaches the broker in the end: the devices' libraries sent again what the
        # broker had not acknowledged when it died.
        wait_until(lambda: len(fleet.acknowledged()) == len(fleet.mids), 60, interval_s=0.5)

        # Everything acknowledged is stored once, but for what docs/protocol.md allows for the
        # instant of a SIGKILL: readings acknowledged in the step before the kill, not yet handed
        # on to a gateway (0 on a machine with CPU to spare). Every breach alerted once, to each
        # subscriber once.
        moment = fleet.steps_between(killed_at[0] - STEP_S, killed_at[0])

        def stored_as_allowed() -> bool:
            stored = set(query(settings, "SELECT device_id, seq FROM telemetry WHERE site = %s", (site,)))
            return all(seq in moment for _d, seq in fleet.acknowledged() - stored)

        expected = {d.device_id: fleet.sent[d.device_id] for d in devices}
        try:
            wait_until(stored_as_allowed, 120, interval_s=0.5)
        except AssertionError:
            raise AssertionError(explain_loss(settings, site, expected, fleet, t0, tmp_path)) from None
        time.sleep(1.0)  # a late redelivery would show now
        assert all(c[0] == c[1] for c in counts(settings, site).values())  # 0 doubled
        try:
            wait_until(lambda: all(alerted(r) >= BREACHING for r in receivers), 120, interval_s=0.5)
        except AssertionError:
            raise AssertionError(explain_alerts(settings, site, receivers, cluster, tmp_path)) from None
        alerts = query(
            settings,
            "SELECT device_id, id::text, count(*) OVER (PARTITION BY device_id) FROM alerts WHERE site = %s",
            (site,),
        )
        given_up = query(
            settings,
            "SELECT count(*) FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id"
            " WHERE a.site = %s AND o.gave_up_at IS NOT NULL",
            (site,),
        )
        time.sleep(1.0)  # a duplicate delivery would arrive now
        assert {r[0] for r in alerts} == set(breach_at) and all(r[2] == 1 for r in alerts)
        alert_ids = {r[1] for r in alerts}
        for receiver in receivers:
            firing = [d for d in receiver.accepted() if d.kind == "firing"]
            assert {d.alert_id for d in firing} == alert_ids
            assert len({d.delivery_id for d in firing}) == BREACHING  # one notification per alert
            assert all(d.signature_ok for d in firing)
        assert given_up == [(0,)]
    finally:
        cluster.stop()
        for device in devices:
            device.close()
        broker.down()
        for receiver in receivers:
            receiver.__exit__(None, None, None)
