"""Nothing lost, nothing doubled: the gateway killed mid-stream, the database restarted mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from gateway.mqtt_client import forget_session
from tests.fixtures.mqtt import wait_until

TANK = {"tank_pressure_kpa": 640.0, "tank_temp_c": 16.5, "tank_level_pct": 71.0}


def count(db: psycopg.Connection, device_id: str) -> tuple[int, int]:
    row = db.execute(
        "SELECT count(*), count(DISTINCT seq) FROM telemetry WHERE device_id = %s", (device_id,)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def stream(device, total: int, per_message: int, pause_s: float) -> None:
    base = datetime.now(UTC) - timedelta(hours=1)
    for start in range(0, total, per_message):
        device.send(*[device.reading(TANK, base + timedelta(seconds=start + k)) for k in range(per_message)])
        time.sleep(pause_s)


def gateway_process(settings, client_id: str, group: str) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HAZGATE_")},
        "HAZGATE_STATE_DIR": str(settings.state_dir),
        "HAZGATE_SERVICES__DB_PORT": str(settings.services.db_port),
        "HAZGATE_SERVICES__MQTT_PORT": str(settings.services.mqtt_port),
        "HAZGATE_DATABASE_URL": settings.db_url,
        "HAZGATE_MQTT__CLIENT_ID": client_id,
        "HAZGATE_MQTT__SHARE_GROUP": group,
        "HAZGATE_LOG_LEVEL": "WARNING",
        "HAZGATE_JT808__PORT": "0",  # its JT/T 808 listener on any free port
    }
    return subprocess.Popen([sys.executable, "-m", "hazgate.cli", "serve", "--role", "gateway"], env=env)


def test_gateway_killed_mid_stream_loses_nothing_and_doubles_nothing(settings, make_device, db):
    group, client_id = f"crash{uuid.uuid4().hex[:6]}", f"gw-crash-{uuid.uuid4().hex[:6]}"
    tank = make_device("tank_sensor")
    gw = gateway_process(settings, client_id, group)
    try:
        time.sleep(2.0)  # connected and subscribed (the session persists from here on)
        total = 3000
        sender = threading.Thread(target=stream, args=(tank, total, 10, 0.004))
        sender.start()
        wait_until(lambda: count(db, tank.device_id)[0] > 300, 20)
        gw.send_signal(signal.SIGKILL)  # a crash: no flush, no acknowledgements, no goodbye
        gw.wait(10)
        stored_at_crash = count(db, tank.device_id)[0]
        gw = gateway_process(settings, client_id, group)
        sender.join(60)
        wait_until(lambda: count(db, tank.device_id)[0] >= total, 60)
        time.sleep(0.5)  # anything redelivered late would show up now
        assert stored_at_crash < total
        assert count(db, tank.device_id) == (total, total)
    finally:
        gw.terminate()
        gw.wait(10)
        forget_session(settings, client_id)


def test_database_restarted_mid_stream_loses_nothing(gateway, local_services, make_device, db, settings):
    tank = make_device("tank_sensor")
    total = 2000
    sender = threading.Thread(target=stream, args=(tank, total, 10, 0.005))
    sender.start()
    wait_until(lambda: count(db, tank.device_id)[0] > 200, 20)
    db.close()
    local_services.db.down()
    time.sleep(1.5)  # readings keep arriving while the database is away
    from hazgate.services.local import ensure_secrets

    secrets = ensure_secrets(local_services.settings.state_dir)
    local_services.db.up(secrets["db_superuser_password"], secrets["db_password"])
    sender.join(60)
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        wait_until(lambda: count(conn, tank.device_id)[0] >= total, 60)
        assert count(conn, tank.device_id) == (total, total)
    assert gateway.router.stats.flush_failures > 0  # it really was down while we sent
