"""A newcomer's first steps: services up, schema in place, broker locked down, service healthy."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices import registry
from hazgate.db.migrate import load_migrations, migrate
from hazgate.mqtt_probe import probe_broker
from hazgate.services.local import LocalServices
from hazgate.settings import Settings
from tests.fixtures.mqtt import sync_broker_accounts


def test_services_status_reports_both_services_up(local_services: LocalServices):
    status = local_services.status()
    assert status["mqtt"]["up"] is True
    assert status["database"]["up"] is True
    assert status["database"]["timescaledb"].count(".") == 2
    assert status["database"]["edition"] in ("apache", "timescale")


def test_second_services_up_is_idempotent_and_fast(local_services: LocalServices):
    started = time.monotonic()
    again = local_services.up()
    assert time.monotonic() - started < 15
    assert again["mqtt"]["up"] and again["database"]["up"]


def test_migrations_are_idempotent(settings: Settings, db: psycopg.Connection):
    assert migrate(settings.db_url) == []  # the session fixture applied them all already
    versions = [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in load_migrations()]


def test_telemetry_is_a_hypertable(db: psycopg.Connection):
    rows = db.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_name = 'telemetry'"
    ).fetchall()
    assert rows == [("telemetry",)]


def test_unauthenticated_mqtt_client_is_refused(settings: Settings):
    assert probe_broker(settings, username="", password="") is not None
    assert probe_broker(settings, username=settings.mqtt.username, password="wrong") is not None
    assert probe_broker(settings) is None


def _received_on(settings: Settings, topic_filter: str, publish) -> list[tuple[str, bytes]]:
    """Subscribe as the service, run publish(), return what arrived within a second."""
    got: list[tuple[str, bytes]] = []
    ready = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}")
    sub.username_pw_set(settings.mqtt.username, settings.mqtt_password)
    sub.on_message = lambda _c, _u, m: got.append((m.topic, bytes(m.payload)))
    sub.on_subscribe = lambda *_a: ready.set()
    sub.connect(settings.mqtt_host, settings.mqtt_port)
    sub.loop_start()
    sub.subscribe(topic_filter, qos=1)
    assert ready.wait(5)
    publish()
    time.sleep(1.0)
    sub.disconnect()
    sub.loop_stop()
    return got


def test_a_device_cannot_publish_on_another_devices_topic(settings: Settings, local_services: LocalServices):
    site = f"s{uuid.uuid4().hex[:6]}"
    with psycopg.connect(settings.db_url) as conn:
        own = registry.add_device(conn, site, f"{site}-ts1", "tank_sensor", None)
        registry.add_device(conn, site, f"{site}-ts2", "tank_sensor", None)

    sync_broker_accounts(settings, local_services)
    time.sleep(0.3)  # SIGHUP reload

    def publish() -> None:
        dev = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=own.device_id)
        dev.username_pw_set(own.username, own.password)
        dev.connect(settings.mqtt_host, settings.mqtt_port)
        dev.loop_start()
        dev.publish(f"hazgate/v1/{site}/devices/{site}-ts1/telemetry", b"mine", qos=1).wait_for_publish(5)
        dev.publish(f"hazgate/v1/{site}/devices/{site}-ts2/telemetry", b"forged", qos=1).wait_for_publish(5)
        dev.disconnect()
        dev.loop_stop()

    got = _received_on(settings, f"hazgate/v1/{site}/#", publish)
    assert got == [(f"hazgate/v1/{site}/devices/{site}-ts1/telemetry", b"mine")]


def test_healthz_reports_database_edition_and_broker(app_server):
    body = httpx.get(f"{app_server.base_url}/healthz").json()
    assert body["status"] == "ok"
    assert body["database"]["up"] and body["database"]["timescaledb"]
    assert body["database"]["edition"] in ("apache", "timescale")
    assert body["mqtt"]["up"] is True


def test_cli_status_json_prints_one_object(local_services: LocalServices):
    env = {
        "HAZGATE_STATE_DIR": str(local_services.settings.state_dir),
        "HAZGATE_SERVICES__DB_PORT": str(local_services.db.port),
        "HAZGATE_SERVICES__MQTT_PORT": str(local_services.broker.port),
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-m", "hazgate.cli", "services", "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    status = json.loads(out.strip().splitlines()[-1])
    assert status["mqtt"] == {"host": "127.0.0.1", "port": local_services.broker.port, "up": True}
    assert status["database"]["up"] is True


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "x" * 65, "#"])
def test_device_names_that_would_break_broker_files_are_refused(bad: str):
    with pytest.raises(registry.DeviceError):
        registry.validate_new("site", bad, "tank_sensor", None)


def test_api_docs_are_served_by_the_app_itself_with_no_cdn(app_server):
    page = httpx.get(f"{app_server.base_url}/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "/docs/assets/swagger-ui-bundle.js" in page.text
    bundle = httpx.get(f"{app_server.base_url}/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000


def test_settings_made_before_the_first_services_up_still_find_its_passwords(tmp_path):
    """`make run` on a fresh machine builds its settings before `services up` makes the secrets."""
    from hazgate.services.local import ensure_secrets
    from hazgate.settings import Settings as RootSettings

    early = RootSettings(state_dir=tmp_path)
    secrets = ensure_secrets(tmp_path)
    assert f":{secrets['db_password']}@" in early.db_url
    assert early.mqtt_password == secrets["mqtt_password"]
