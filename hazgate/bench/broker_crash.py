"""`hazgate bench broker-crash`: readings acknowledged to a device and never stored, across a broker crash.

On the benchmark's own database and broker (private: its sessions go with it): one tank sensor
publishes ``rate`` readings/s (one reading a message, QoS 1, its MQTT library keeping what is not
acknowledged, as a device's does); a gateway (`hazgate serve --role gateway`, default settings, its own process) stores
them; at ``crash_at_s`` the broker is killed with SIGKILL (or stopped cleanly) and started again
``down_s`` later the way `hazgate services up` starts it, while the device keeps publishing.
Lost: readings the broker acknowledged (PUBACK) that never reached the database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from hazgate.bench.common import _broker_for, progress, register_devices
from hazgate.broker_client import new_client
from hazgate.errors import HazgateError
from hazgate.services.local import LocalServices, ensure_secrets, registered_device_accounts
from hazgate.settings import Settings

# After the last PUBACK, how long the gateway may take to store the rest.
SETTLE_TIMEOUT_S = 60.0
SEQS = "SELECT seq FROM telemetry WHERE device_id = %s AND seq <> %s"


def _ranges(seqs: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for s in seqs:
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def run_broker_crash_bench(
    settings: Settings,
    *,
    rate: float = 300.0,
    seconds: float = 10.0,
    crash_at_s: float = 5.0,
    down_s: float = 3.0,
    clean_stop: bool = False,
) -> dict[str, Any]:
    site, (device,) = register_devices(settings, 1)
    broker = _broker_for(settings)
    local = LocalServices(settings)
    secrets_ = ensure_secrets(settings.state_dir)

    def restart() -> None:
        time.sleep(down_s)
        accounts = [local.service_account(secrets_), *registered_device_accounts(settings.db_url)]
        broker.up(accounts)

    env = {k: v for k, v in os.environ.items() if not k.startswith("HAZGATE_")}
    env.update(
        {
            "HAZGATE_DATABASE_URL": settings.db_url,
            "HAZGATE_MQTT_URL": settings.mqtt_url or "",
            "HAZGATE_STATE_DIR": str(settings.state_dir),
            "HAZGATE_LOG_LEVEL": "WARNING",
        }
    )
    gateway = subprocess.Popen([sys.executable, "-m", "hazgate.cli", "serve", "--role", "gateway"], env=env)
    acked: list[int] = []
    seq_of: dict[int, int] = {}
    client = new_client(settings, device.device_id, username=device.device_id, password=device.password)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 2)
    client.on_publish = lambda _c, _u, mid, _rc, _p: acked.append(mid)
    acknowledged: set[int] = set()
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port)
        client.loop_start()
        _warm_up(settings, client, device.topic, device.device_id, gateway)
        total = int(rate * seconds)
        how = "stops" if clean_stop else "is killed"
        progress(
            f"{rate:.0f} readings/s for {seconds:.0f} s; the broker {how} at {crash_at_s:.0f} s,"
            f" back {down_s:.0f} s later"
        )
        start, crashed = time.monotonic(), False
        for seq in range(total):
            due = start + seq / rate
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            if not crashed and time.monotonic() - start >= crash_at_s:
                crashed = True
                pid = broker.status().pid
                if clean_stop or pid is None:
                    broker.down()
                else:
                    os.kill(pid, signal.SIGKILL)
                threading.Thread(target=restart, name="broker-restart").start()
            body = {"ts": datetime.now(UTC).isoformat(), "seq": seq, "values": {"tank_pressure_kpa": 700.0}}
            info = client.publish(device.topic, json.dumps(body), qos=1)
            seq_of[info.mid] = seq
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while len([m for m in acked if m in seq_of]) < total and time.monotonic() < deadline:
            time.sleep(0.1)
        acknowledged = {seq_of[mid] for mid in acked if mid in seq_of}
        progress(f"{len(acknowledged)}/{total} acknowledged; waiting for the gateway to store them")
        stored, rows = _settle(settings, device.device_id, acknowledged)
    finally:
        client.disconnect()
        client.loop_stop()
        gateway.terminate()
        gateway.wait(30)
    lost = sorted(acknowledged - stored)
    return {
        "sent": total,
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "lost": len(lost),
        "lost_seq_ranges": _ranges(lost),
        "duplicated": rows - len(stored),
        "rate_per_s": rate,
        "crash_at_s": crash_at_s,
        "down_s": down_s,
        "how": "clean stop" if clean_stop else "SIGKILL",
        "site": site,
        "protocol": "MQTT 3.1.1, QoS 1, one reading a message",
    }


WARM_UP_SEQ = 2**62  # apart from the measured readings' seqs


def _warm_up(settings: Settings, client: Any, topic: str, device_id: str, gateway: subprocess.Popen[bytes]) -> None:
    """Until a reading is stored: the gateway has connected and subscribed (before that, the
    broker has no session to queue for, which is not what this measures)."""
    body = json.dumps({"ts": datetime.now(UTC).isoformat(), "seq": WARM_UP_SEQ, "values": {"tank_pressure_kpa": 1.0}})
    deadline = time.monotonic() + 60.0
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if gateway.poll() is not None:
                raise HazgateError("the gateway did not start", hint="see its log above")
            client.publish(topic, body, qos=1)
            time.sleep(0.5)
            if conn.execute(
                "SELECT 1 FROM telemetry WHERE device_id = %s AND seq = %s", (device_id, WARM_UP_SEQ)
            ).fetchone():
                return
    raise HazgateError("the gateway stored nothing within 60 s", hint="see its log above")


def _settle(settings: Settings, device_id: str, acknowledged: set[int]) -> tuple[set[int], int]:
    """Wait until every acknowledged reading is stored, or nothing new arrives for 10 s."""
    last, changed = -1, time.monotonic()
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        while True:
            rows = conn.execute(SEQS, (device_id, WARM_UP_SEQ)).fetchall()
            stored = {int(r[0]) for r in rows}
            if len(rows) != last:
                last, changed = len(rows), time.monotonic()
            if acknowledged <= stored or time.monotonic() - changed > 10.0:
                time.sleep(1.0)  # a late redelivery would show up now
                rows = conn.execute(SEQS, (device_id, WARM_UP_SEQ)).fetchall()
                return {int(r[0]) for r in rows}, len(rows)
            time.sleep(0.2)
