"""Shared pieces of the benchmarks: bench devices, publishers in their own processes, stats."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
from pydantic import SecretStr

from devices import registry
from hazgate.broker_client import new_client
from hazgate.db.migrate import migrate
from hazgate.errors import HazgateError
from hazgate.services.local import LocalServices, ensure_secrets, registered_device_accounts
from hazgate.services.mosquitto import Mosquitto
from hazgate.settings import Settings
from hazgate.topics import DeviceKind, device_topic

# paho queues without bound when the broker's window is full; we wait instead, so "published"
# means the broker has it and memory stays flat.
MAX_OUTSTANDING_PER_CLIENT = 200
TANK_VALUES = {"tank_pressure_kpa": 812.5, "tank_temp_c": 18.25, "tank_level_pct": 64.0, "battery_pct": 97.0}


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)  # noqa: T201


@dataclass(frozen=True)
class BenchDevice:
    device_id: str
    site: str
    password: str

    @property
    def topic(self) -> str:
        return device_topic(self.site, self.device_id, DeviceKind.TELEMETRY)


def register_devices(settings: Settings, count: int, device_type: str = "tank_sensor") -> tuple[str, list[BenchDevice]]:
    run = uuid.uuid4().hex[:6]
    site = f"bench-{run}"
    made = []
    with psycopg.connect(settings.db_url) as conn:
        for i in range(count):
            creds = registry.add_device(conn, site, f"{site}-{i:04d}", device_type, None)
            made.append(BenchDevice(creds.device_id, site, creds.password))
    sync_broker(settings)
    return site, made


BENCH_DIR_PREFIX = "bench-"


@contextmanager
def bench_services(settings: Settings) -> Iterator[Settings]:
    """A database and a broker of the benchmark's own, so it runs beside a live service.

    The database is created on the local TimescaleDB (as the tests' session fixture does),
    migrated, and dropped afterwards; the broker is a Mosquitto configured like the project's,
    on a free port. The demo's data and its gateway's persistent session (which would queue
    every benchmark message while the service is down) are never touched.
    """
    with bench_database(settings) as with_db, bench_broker(with_db) as both:
        yield both


@contextmanager
def bench_database(settings: Settings) -> Iterator[Settings]:
    local = LocalServices(settings)
    secrets_ = ensure_secrets(settings.state_dir)
    if not local.db.status(secrets_["db_password"]).up:
        raise HazgateError(
            f"the local TimescaleDB (port {settings.services.db_port}) is not running",
            hint="run `hazgate services up` first: the benchmark makes a database of its own on it",
        )
    name = f"hazgate_bench_{uuid.uuid4().hex[:8]}"
    progress(f"database {name} on the local TimescaleDB")
    local.db.create_database(name, secrets_["db_superuser_password"], secrets_["db_password"])
    try:
        url = local.db.app_conninfo(secrets_["db_password"], name)
        migrate(url)
        yield settings.model_copy(update={"database_url": SecretStr(url)})
    finally:
        local.db.drop_database(name, secrets_["db_superuser_password"])


@contextmanager
def bench_broker(settings: Settings) -> Iterator[Settings]:
    """A Mosquitto of the benchmark's own, configured like the project's, on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    broker = _bench_broker(settings, port)
    local = LocalServices(settings)
    broker.up([local.service_account(ensure_secrets(settings.state_dir))])
    try:
        yield settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{port}"})
    finally:
        broker.down()
        shutil.rmtree(broker.dir.parent, ignore_errors=True)


def _bench_broker(settings: Settings, port: int) -> Mosquitto:
    return Mosquitto(settings.state_dir / f"{BENCH_DIR_PREFIX}{port}", port)


def _broker_for(settings: Settings) -> Mosquitto:
    local = LocalServices(settings)
    if settings.mqtt_port == settings.services.mqtt_port:
        return local.broker
    return _bench_broker(settings, settings.mqtt_port)


def sync_broker(settings: Settings) -> None:
    """Give the broker the accounts of the devices in the database (as `devices add` does)."""
    # The devices of the database the benchmark runs on (HAZGATE_DATABASE_URL), not of the local default.
    local = LocalServices(settings)
    accounts = [local.service_account(ensure_secrets(settings.state_dir)), *registered_device_accounts(settings.db_url)]
    _broker_for(settings).write_auth(accounts)
    time.sleep(0.5)  # SIGHUP reload is asynchronous


def service_env(settings: Settings, site: str, role: str) -> dict[str, str]:
    """Environment of a `hazgate serve` subprocess on the benchmark's database and broker,
    in a share group and with a client id of its own."""
    return {
        **os.environ,
        "HAZGATE_DATABASE_URL": settings.db_url,
        "HAZGATE_MQTT_URL": settings.mqtt_url or "",
        "HAZGATE_STATE_DIR": str(settings.state_dir),
        "HAZGATE_SERVICES__DB_PORT": str(settings.services.db_port),
        "HAZGATE_SERVICES__MQTT_PORT": str(settings.services.mqtt_port),
        "HAZGATE_MQTT__SHARE_GROUP": site,
        "HAZGATE_MQTT__CLIENT_ID": f"{site}-{role}",
        "HAZGATE_LOG_LEVEL": "WARNING",
        # The gateway's JT/T 808 listener on any free port: the main service may hold 6808.
        "HAZGATE_JT808__PORT": "0",
    }


def remove_devices(settings: Settings, site: str) -> None:
    with psycopg.connect(settings.db_url) as conn:
        conn.execute("DELETE FROM telemetry WHERE site = %s", (site,))
        conn.execute("DELETE FROM rejected WHERE device_id LIKE %s", (site + "-%",))
        conn.execute("DELETE FROM devices WHERE site = %s", (site,))
    sync_broker(settings)


def connect_device(
    settings: Settings, device: BenchDevice, max_inflight: int = MAX_OUTSTANDING_PER_CLIENT
) -> mqtt.Client:
    client = new_client(settings, device.device_id, username=device.device_id, password=device.password)
    client.max_inflight_messages_set(max_inflight)
    client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=60)
    client.loop_start()
    return client


def publish_worker(
    settings: Settings,
    devices: list[BenchDevice],
    seconds: float,
    per_message: int,
    seq_base: int,
    rate_readings_s: float | None,
    result: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """Publish telemetry arrays round-robin for `seconds` (as fast as possible, or paced)."""
    clients = [connect_device(settings, d) for d in devices]
    pending: list[deque[mqtt.MQTTMessageInfo]] = [deque() for _ in clients]
    seqs = [seq_base] * len(clients)
    sent_readings = 0
    start = time.monotonic()
    deadline = start + seconds
    i = 0
    while time.monotonic() < deadline:
        if rate_readings_s:
            wait_s = start + sent_readings / rate_readings_s - time.monotonic()
            if wait_s > 0:
                time.sleep(wait_s)
        k = i % len(clients)
        now = datetime.now(UTC).isoformat()
        body = [{"ts": now, "seq": seqs[k] + j, "values": TANK_VALUES} for j in range(per_message)]
        seqs[k] += per_message
        pending[k].append(clients[k].publish(devices[k].topic, json.dumps(body), qos=1))
        if len(pending[k]) > MAX_OUTSTANDING_PER_CLIENT:
            pending[k].popleft().wait_for_publish(30)
        sent_readings += per_message
        i += 1
    for queue_ in pending:
        for info in queue_:
            info.wait_for_publish(30)
    elapsed = time.monotonic() - start
    for client in clients:
        client.disconnect()
        client.loop_stop()
    result.put({"readings": sent_readings, "seconds": elapsed, "seq_end": max(seqs)})


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, min(998, round(pct * 10) - 1))]
