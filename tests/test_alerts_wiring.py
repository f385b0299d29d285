"""`hazgate serve` (role all): the app runs gateway and alert service together, and a breach
published to the broker comes out of a webhook, with nothing but the app in between."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import uvicorn

from alerts.evaluator import Evaluator
from api.app import create_app
from gateway.mqtt_client import forget_session
from tests.fixtures.mqtt import wait_until
from tests.fixtures.services import free_port


def test_the_all_in_one_app_evaluates_the_stream_and_delivers(alert_settings, make_sensor, admin_key, webhook):
    group = f"all{uuid.uuid4().hex[:6]}"
    base = alert_settings()  # a share group of its own: it must see every message of the test
    settings = base.model_copy(update={"mqtt": base.mqtt.model_copy(update={"share_group": group, "client_id": group})})
    app = create_app(settings, role="all")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 30)
        service = app.state.alerts
        assert isinstance(service, Evaluator)
        wait_until(lambda: service.stats.active and app.state.gateway.mqtt.connected.is_set(), 60)
        base = f"http://127.0.0.1:{server.config.port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30) as api:
            # Alone on the database, it owns every partition; /healthz says so.
            health = wait_until(
                lambda: (h := api.get("/healthz").json())["alerts"]["unowned_partitions"] == 0 and h, 30
            )
            assert health["alerts"]["evaluators"] == 1 and health["alerts"]["partitions"] == 32
            tank = make_sensor("tank_sensor")
            rule = api.post(
                "/api/v1/rules",
                json={
                    "name": "overpressure",
                    "kind": "threshold",
                    "metric": "tank_pressure_kpa",
                    "op": ">",
                    "value": 1600,
                    "severity": "critical",
                    "site": tank.site,
                },
            ).json()
            sub = api.post(
                "/api/v1/subscriptions",
                json={"channel": "webhook", "url": webhook.url, "secret": webhook.secret, "site": tank.site},
            ).json()
            wait_until(lambda: rule["id"] in service.config.rules and sub["id"] in service.config.subscriptions, 30)
            time.sleep(0.5)  # the gateway's subscription is in place
            tank.send(tank.reading({"tank_pressure_kpa": 1750.0}, datetime.now(UTC)))
            firing = wait_until(lambda: webhook.accepted(), 30)[0]
            assert firing.body["device_id"] == tank.device_id and firing.signature_ok
            api.delete(f"/api/v1/rules/{rule['id']}")
            api.delete(f"/api/v1/subscriptions/{sub['id']}")
    finally:
        server.should_exit = True
        thread.join(30)
        forget_session(settings, settings.mqtt.client_id)
    assert not thread.is_alive()  # the lifespan stopped gateway and alert service in order
    assert not service.stats.active
