"""Absence: a GPS tracker that falls silent, and a gas detector whose power dies (last will)."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.fixtures.mqtt import wait_until

POSITION = {"lat": 29.87, "lon": 121.55, "speed_kmh": 12.0}


def kinds(webhook, device_id: str) -> list[str]:
    return [d.kind for d in webhook.accepted() if d.body.get("device_id") == device_id]


def test_a_tracker_silent_too_long_raises_an_alert_that_resolves_when_it_reports_again(
    alerts, make_sensor, make_rule, subscribe, webhook, api
):
    tracker = make_sensor("gps_tracker")
    make_rule(name="tracker silent", kind="absence", silence_s=2, severity="warning", device_id=tracker.device_id)
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tracker.site)
    alerts.wait_in_force()

    tracker.send(tracker.reading(POSITION))
    sent_at = time.monotonic()
    firing = wait_until(lambda: kinds(webhook, tracker.device_id) == ["firing"] and webhook.accepted(), 30)[0]
    assert time.monotonic() - sent_at >= 2  # not before the silence limit
    assert firing.body["rule_kind"] == "absence" and "silent" in firing.body["summary"]
    assert firing.body["value"] > 2

    tracker.send(tracker.reading(POSITION))
    wait_until(lambda: kinds(webhook, tracker.device_id) == ["firing", "resolved"], 30)
    alert = api.get(f"/api/v1/alerts/{firing.alert_id}").json()
    assert alert["state"] == "resolved" and alert["resolve_reason"] == "reported"


def test_a_gas_detector_losing_power_alerts_at_once_by_its_last_will(
    alerts, make_sensor, make_rule, subscribe, webhook, db
):
    detector = make_sensor("gas_detector", connect=False)
    # An hour of allowed silence: only the last will can fire this within the test.
    make_rule(name="detector offline", kind="absence", silence_s=3600, severity="critical", site=detector.site)
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=detector.site)
    alerts.wait_in_force()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=detector.device_id)
    client.username_pw_set(detector.device_id, detector.password)
    client.will_set(detector.topic("status"), json.dumps({"state": "offline"}), qos=1, retain=True)
    client.connect(detector.settings.mqtt_host, detector.settings.mqtt_port, keepalive=5)
    client.loop_start()
    wait_until(client.is_connected, 30)
    client.publish(detector.topic("status"), json.dumps({"state": "online"}), qos=1, retain=True).wait_for_publish(5)
    payload = json.dumps(
        {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seq": 1, "values": {"gas_lel_pct": 1.0}}
    )
    client.publish(detector.topic("telemetry"), payload, qos=1).wait_for_publish(5)
    stored = "SELECT count(*) FROM telemetry WHERE device_id = %s"
    wait_until(lambda: db.execute(stored, (detector.device_id,)).fetchone()[0] == 1, 30)
    alerts.wait_evaluated()
    client.loop_stop()
    sock = client.socket()
    assert sock is not None
    sock.close()  # power lost: no DISCONNECT, the broker publishes the will

    firing = wait_until(lambda: webhook.accepted(), 30)[0]
    assert firing.kind == "firing" and firing.body["device_id"] == detector.device_id
    assert "offline" in firing.body["summary"] and firing.body["severity"] == "critical"
