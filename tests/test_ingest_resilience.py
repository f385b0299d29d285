"""Nothing lost, nothing doubled: the gateway killed mid-stream, the database restarted mid-stream."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from gateway.mqtt_client import forget_session
from tests.fixtures.mqtt import wait_until
from tests.fixtures.processes import GatewayProcess

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


def test_gateway_killed_mid_stream_loses_nothing_and_doubles_nothing(settings, make_device, db, tmp_path):
    group = f"crash{uuid.uuid4().hex[:6]}"  # default client id: the restart claims the same slot
    tank = make_device("tank_sensor")
    gw = GatewayProcess(settings, tmp_path, HAZGATE_MQTT__SHARE_GROUP=group)
    client_id = None
    try:
        client_id = wait_until(lambda: gw.client_id, 30)  # connected and subscribed from here on
        total = 3000
        sender = threading.Thread(target=stream, args=(tank, total, 10, 0.004))
        sender.start()
        wait_until(lambda: count(db, tank.device_id)[0] > 300, 20)
        gw.kill()  # a crash: no flush, no acknowledgements, no goodbye
        stored_at_crash = count(db, tank.device_id)[0]
        gw = GatewayProcess(settings, tmp_path, HAZGATE_MQTT__SHARE_GROUP=group)
        sender.join(60)
        wait_until(lambda: count(db, tank.device_id)[0] >= total, 60)
        time.sleep(0.5)  # anything redelivered late would show up now
        assert stored_at_crash < total
        assert count(db, tank.device_id) == (total, total)
        assert gw.client_id == client_id and "session present: True" in gw.log, "it resumed its predecessor's session"
    finally:
        gw.stop()
        if client_id:
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
