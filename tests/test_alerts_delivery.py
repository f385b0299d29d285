"""Delivery: a webhook receiver down for a while, an MQTT topic, e-mail, and the live stream."""

from __future__ import annotations

import json
import queue
import threading

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.fixtures.alerts import breach, overpressure
from tests.fixtures.mqtt import wait_until


def test_a_webhook_down_for_a_while_gets_the_notification_when_back_with_the_same_delivery_id(
    alerts, make_sensor, make_rule, subscribe, webhook, db
):
    tank = make_sensor("tank_sensor")
    make_rule(**overpressure(tank.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    alerts.wait_in_force()

    webhook.fail_with(500)
    breach(tank)
    wait_until(lambda: len(webhook.deliveries) >= 3, 30)  # refused, retried with backoff
    webhook.fail_with(None)
    delivered = wait_until(lambda: webhook.accepted(), 30)[0]

    attempts = webhook.deliveries
    assert {d.delivery_id for d in attempts} == {delivered.delivery_id}
    assert all(d.signature_ok for d in attempts) and len({json.dumps(d.body) for d in attempts}) == 1
    outbox = "SELECT delivered_at, attempts FROM alert_outbox WHERE delivery_id = %s"
    row = wait_until(lambda: (r := db.execute(outbox, (delivered.delivery_id,)).fetchone()) and r[0] and r, 30)
    assert row[1] == len(attempts)  # marked delivered after the 2xx, and only then


def test_alerts_are_published_to_an_mqtt_topic(alerts, make_sensor, make_rule, subscribe, settings):
    tank = make_sensor("tank_sensor")
    topic = f"hazgate/v1/{tank.site}/alerts"
    make_rule(**overpressure(tank.site))
    subscribe(channel="mqtt", topic=topic, site=tank.site)
    alerts.wait_in_force()

    received: queue.Queue[dict] = queue.Queue()
    duty = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"duty-{tank.site}")
    duty.username_pw_set(settings.mqtt.username, settings.mqtt_password)
    duty.on_message = lambda _c, _u, m: received.put(json.loads(m.payload))
    subscribed = threading.Event()
    duty.on_subscribe = lambda *_a: subscribed.set()
    duty.connect(settings.mqtt_host, settings.mqtt_port)
    duty.subscribe(topic, qos=1)
    duty.loop_start()
    try:
        assert subscribed.wait(10)
        breach(tank)
        body = received.get(timeout=30)
    finally:
        duty.disconnect()
        duty.loop_stop()
    assert body["device_id"] == tank.device_id and body["state"] == "firing"
    assert body["notification"]["kind"] == "firing"


def test_alerts_are_mailed_over_smtp(alerts, make_sensor, make_rule, subscribe, smtp_server):
    tank = make_sensor("tank_sensor")
    address = f"duty-{tank.site}@park.example"
    make_rule(**overpressure(tank.site))
    subscribe(channel="email", to=address, site=tank.site, min_severity="critical")
    alerts.wait_in_force()

    breach(tank)
    mail = wait_until(lambda: smtp_server.to(address), 30)[0]
    assert "CRITICAL" in mail["Subject"] and "tank overpressure" in mail["Subject"]
    assert mail["X-Hazgate-Delivery"] and mail["Message-ID"] == f"<{mail['X-Hazgate-Delivery']}@hazgate>"
    assert tank.device_id in mail.get_payload()


def test_officers_watch_alerts_live_as_server_sent_events(alerts, make_sensor, make_rule, app_server, admin_key):
    tank = make_sensor("tank_sensor")
    make_rule(**overpressure(tank.site))
    alerts.wait_in_force()

    events: queue.Queue[tuple[str, dict]] = queue.Queue()
    ready = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        headers = {"Authorization": f"Bearer {admin_key}"}
        params = {"site": tank.site}
        with (
            httpx.Client(base_url=app_server.base_url, timeout=httpx.Timeout(5, read=30)) as client,
            client.stream("GET", "/api/v1/alerts/stream", headers=headers, params=params) as response,
        ):
            name = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    if name == "ready":
                        ready.set()
                    else:
                        events.put((name, json.loads(line[6:])))
                if stop.is_set():
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(15)
    breach(tank)
    name, data = events.get(timeout=30)
    assert name == "alert" and data["device_id"] == tank.device_id and data["state"] == "firing"
    stop.set()
    breach(tank, 1800)  # one more event lets the reader notice it should stop
    listener.join(30)
    assert not listener.is_alive()  # the client hung up cleanly
