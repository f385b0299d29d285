"""Park sensors publish through the real broker; their readings land in TimescaleDB whole and once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.fixtures.mqtt import wait_until

TANK = {"tank_pressure_kpa": 812.5, "tank_temp_c": 18.25, "tank_level_pct": 64.0}


def stored(db: psycopg.Connection, device_id: str) -> list[tuple]:
    return db.execute(
        'SELECT seq, ts, "values" FROM telemetry WHERE device_id = %s ORDER BY seq', (device_id,)
    ).fetchall()


def rejected_reasons(api, device_id: str) -> list[str]:
    body = api.get("/api/v1/rejected", params={"device_id": device_id}).raise_for_status().json()
    return [r["reason"] for r in body]


def test_tank_sensor_readings_are_stored_exactly_as_sent(gateway, make_device, db):
    tank = make_device("tank_sensor")
    sent = []
    base = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(40):
        batch = [
            tank.reading({**TANK, "tank_level_pct": float(i)}, base + timedelta(seconds=5 * i + k)) for k in range(5)
        ]
        tank.send(*batch) if i % 2 else [tank.send(r) for r in batch]
        sent.extend(batch)
    rows = wait_until(lambda: (r := stored(db, tank.device_id)) and len(r) >= len(sent) and r, 15)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (s["seq"], datetime.fromisoformat(s["ts"]), s["values"]) for s in sent
    ]


def test_qos1_redelivery_of_the_same_reading_is_not_a_second_reading(gateway, make_device, db):
    gps = make_device("gps_tracker")
    reading = gps.reading({"lat": 29.87, "lon": 121.55, "speed_kmh": 12.0})
    for _ in range(3):  # what a QoS-1 redelivery looks like to us: the same payload again
        gps.send(reading)
    marker = gps.reading({"lat": 29.88, "lon": 121.56, "speed_kmh": 0.0})
    gps.send(marker)
    wait_until(lambda: len(stored(db, gps.device_id)) >= 2)
    assert [r[0] for r in stored(db, gps.device_id)] == [reading["seq"], marker["seq"]]


def test_device_status_follows_its_last_will(gateway, make_device, db):
    detector = make_device("gas_detector", connect=False)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=detector.device_id)
    client.username_pw_set(detector.device_id, detector.password)
    client.will_set(detector.topic("status"), json.dumps({"state": "offline"}), qos=1, retain=True)
    client.connect(detector.settings.mqtt_host, detector.settings.mqtt_port, keepalive=5)
    client.loop_start()
    client.publish(detector.topic("status"), json.dumps({"state": "online"}), qos=1, retain=True).wait_for_publish(5)
    state = lambda: db.execute("SELECT state FROM devices WHERE device_id = %s", (detector.device_id,)).fetchone()[0]  # noqa: E731
    wait_until(lambda: state() == "online")
    client.loop_stop()
    sock = client.socket()
    assert sock is not None
    sock.close()  # the detector loses power: no DISCONNECT, the broker sends its will
    wait_until(lambda: state() == "offline", timeout_s=15)


BAD_INPUTS = [
    ("malformed_json", b'{"ts": "2026-11-23T10:00:00Z", "seq": 1, "values": {'),
    ("not_utf8", b"\xff\xfe\x00garbage"),
    ("wrong_type", b'{"ts": "2026-11-23T10:00:00Z", "seq": "one", "values": {"tank_temp_c": 20}}'),
    ("wrong_type", b'{"ts": "2026-11-23T10:00:00", "seq": 1, "values": {"tank_temp_c": 20}}'),
    ("wrong_type", b'{"ts": "2026-11-23T10:00:00Z", "seq": 1, "values": {"tank_temp_c": "20"}}'),
    ("wrong_type", b"[]"),
    ("out_of_range", b'{"ts": "2026-11-23T10:00:00Z", "seq": 1, "values": {"tank_level_pct": 140}}'),
    ("unknown_metric", b'{"ts": "2026-11-23T10:00:00Z", "seq": 1, "values": {"gas_ppm": 3}}'),
    ("oversize", b'{"pad": "' + b"x" * 300_000 + b'"}'),
]


@pytest.mark.parametrize(("reason", "payload"), BAD_INPUTS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BAD_INPUTS)])
def test_bad_telemetry_is_refused_with_its_reason_on_record(gateway, make_device, api, reason, payload, db):
    tank = make_device("tank_sensor")
    tank.publish_raw("telemetry", payload)
    tank.send(tank.reading(TANK))  # the pipeline goes on: the next good reading is stored
    wait_until(lambda: stored(db, tank.device_id))
    assert wait_until(lambda: rejected_reasons(api, tank.device_id)) == [reason]
    entry = api.get("/api/v1/rejected", params={"device_id": tank.device_id}).json()[0]
    assert entry["topic"] == tank.topic("telemetry") and entry["payload_bytes"] == len(payload)
    assert entry["detail"] and entry["payload_excerpt"] is not None


def test_readings_of_an_unregistered_device_are_refused(gateway, gateway_settings, api):
    ghost = f"ghost-{uuid.uuid4().hex[:6]}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.username_pw_set(gateway_settings.mqtt.username, gateway_settings.mqtt_password)
    client.connect(gateway_settings.mqtt_host, gateway_settings.mqtt_port)
    client.loop_start()
    body = json.dumps({"ts": datetime.now(UTC).isoformat(), "seq": 1, "values": {"tank_temp_c": 1}})
    client.publish(f"hazgate/v1/park/devices/{ghost}/telemetry", body, qos=1).wait_for_publish(5)
    client.publish("hazgate/v1/bad site/devices/x/telemetry", body, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    assert wait_until(lambda: rejected_reasons(api, ghost)) == ["unknown_device"]

    def refused_for_its_topic() -> bool:
        wrong = api.get("/api/v1/rejected", params={"reason": "wrong_topic"}).json()
        return any(r["topic"] == "hazgate/v1/bad site/devices/x/telemetry" for r in wrong)

    # Each refusal is stored with the batch it arrived in; the second may be a batch later.
    assert wait_until(refused_for_its_topic)


def test_a_gps_tracker_cannot_send_tank_metrics_and_a_kiosk_cannot_send_telemetry(gateway, make_device, api):
    gps = make_device("gps_tracker")
    gps.send(gps.reading(TANK))
    assert wait_until(lambda: rejected_reasons(api, gps.device_id)) == ["unknown_metric"]


def test_a_reading_stamped_far_in_the_future_is_refused(gateway, make_device, api):
    tank = make_device("tank_sensor")
    tank.send(tank.reading(TANK, datetime.now(UTC) + timedelta(days=1)))
    assert wait_until(lambda: rejected_reasons(api, tank.device_id)) == ["future_timestamp"]


def test_telemetry_api_gives_raw_points_and_time_buckets(gateway, make_device, api, db):
    tank = make_device("tank_sensor")
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    readings = [tank.reading({"tank_pressure_kpa": 100.0 + i}, start + timedelta(seconds=30 * i)) for i in range(8)]
    tank.send(*readings)
    wait_until(lambda: len(stored(db, tank.device_id)) == 8)
    params = {
        "metric": "tank_pressure_kpa",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }
    raw = api.get(f"/api/v1/devices/{tank.device_id}/telemetry", params=params).raise_for_status().json()
    assert [p["value"] for p in raw["points"]] == [100.0 + i for i in range(8)]
    assert raw["unit"] == "kPa"
    agg = api.get(f"/api/v1/devices/{tank.device_id}/telemetry", params={**params, "bucket": "2m"}).json()
    assert [(b["min"], b["max"], b["count"]) for b in agg["buckets"]] == [(100, 103, 4), (104, 107, 4)]
    assert agg["buckets"][0]["avg"] == pytest.approx(101.5)
    bad = api.get(f"/api/v1/devices/{tank.device_id}/telemetry", params={**params, "bucket": "fortnight"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_bucket"
    listed = api.get("/api/v1/devices").json()
    assert any(d["device_id"] == tank.device_id and d["last_seen_at"] for d in listed)


def test_readings_older_than_the_retention_period_are_dropped_and_recent_ones_kept(settings, db):
    from ingest.retention import RetentionJob

    db.execute(
        "INSERT INTO devices (device_id, site, type, mqtt_password_hash) VALUES ('ret-1', 'ret', 'tank_sensor', 'x')"
    )
    old, recent = datetime.now(UTC) - timedelta(days=120), datetime.now(UTC) - timedelta(days=2)
    for seq, ts in ((1, old), (2, recent)):
        db.execute(
            "INSERT INTO telemetry (ts, device_id, seq, site, \"values\") VALUES (%s, 'ret-1', %s, 'ret', '{}')",
            (ts, seq),
        )
    dropped = RetentionJob(settings.db_url, retention_days=90).run_once()
    edition = db.execute("SELECT current_setting('timescaledb.license')").fetchone()[0]
    if edition == "apache":
        assert dropped, "the old chunk should have been dropped by our own job"
    assert [r[0] for r in db.execute("SELECT seq FROM telemetry WHERE device_id = 'ret-1'")] == (
        [2] if edition == "apache" else [1, 2]
    )


def test_a_batch_the_database_refuses_is_split_and_only_the_bad_row_refused(settings, db):
    """A value the validator let through but PostgreSQL refuses must not wedge the pipeline."""
    from gateway.validate import Row
    from ingest.writer import Batch, TelemetryWriter

    db.execute(
        "INSERT INTO devices (device_id, site, type, mqtt_password_hash) VALUES ('poison-1', 'p', 'tank_sensor', 'x')"
    )
    now = datetime.now(UTC)
    good = Row(now, now.isoformat(), "poison-1", 1, "p", {"tank_temp_c": 1.0})
    bad = Row(now, "2026-02-30T00:00:00Z", "poison-1", 2, "p", {"tank_temp_c": 2.0})  # no 30 February
    batch = Batch(rows=[good, bad], mids=[(1, 1)])
    writer = TelemetryWriter(settings.db_url)
    result = writer.flush(batch)
    writer.close()
    assert result.inserted == 1 and result.rejected == 1
    assert [r[0] for r in db.execute("SELECT seq FROM telemetry WHERE device_id = 'poison-1'")] == [1]
    reasons = db.execute("SELECT reason FROM rejected WHERE device_id = 'poison-1'").fetchall()
    assert reasons == [("storage_refused",)]


def test_the_device_list_shows_silent_sensors_and_battery(gateway, make_device, api, db):
    quiet, chatty = make_device("gas_detector"), make_device("gas_detector")
    quiet.send(quiet.reading({"gas_ppm": 1.0, "battery_pct": 12.0}, datetime.now(UTC) - timedelta(minutes=10)))
    chatty.send(chatty.reading({"gas_ppm": 2.0, "battery_pct": 88.5}))
    wait_until(lambda: len(stored(db, quiet.device_id)) == 1 and len(stored(db, chatty.device_id)) == 1)
    listed = {d["device_id"]: d for d in api.get("/api/v1/devices").raise_for_status().json()}
    assert listed[quiet.device_id]["status"] == "silent" and listed[quiet.device_id]["battery_pct"] == 12.0
    assert listed[chatty.device_id]["status"] == "online" and listed[chatty.device_id]["battery_pct"] == 88.5


def test_a_device_publishing_as_another_is_refused_by_the_broker_and_nothing_is_stored(gateway, make_device, db):
    """The broker's ACL stops it: an MQTT 5 device is told 'not authorized' in its PUBACK."""
    victim = make_device("tank_sensor")
    forger = make_device("tank_sensor", site=victim.site, connect=False)
    acks: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=forger.device_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(forger.device_id, forger.password)
    client.on_publish = lambda _c, _u, _mid, reason, _p: acks.append(reason.value)
    client.connect(forger.settings.mqtt_host, forger.settings.mqtt_port)
    client.loop_start()
    body = json.dumps(victim.reading(TANK))
    client.publish(victim.topic("telemetry"), body, qos=1).wait_for_publish(5)
    client.publish(forger.topic("telemetry"), json.dumps(forger.reading(TANK)), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    assert acks[0] == 0x87  # Not authorized: the forgery
    assert acks[1] in (0x00, 0x10)  # its own topic: accepted
    wait_until(lambda: stored(db, forger.device_id))
    assert stored(db, victim.device_id) == []
