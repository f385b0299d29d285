"""The alert service dies mid-alert and comes back: nothing lost, no second alert opened."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tests.fixtures.alerts import TANK, RunningAlerts, overpressure
from tests.fixtures.mqtt import wait_until


def pressure(tank, kpa: float, ts: datetime) -> dict:
    return tank.reading({**TANK, "tank_pressure_kpa": kpa}, ts)


def stored(db, device_id: str) -> int:
    return db.execute("SELECT count(*) FROM telemetry WHERE device_id = %s", (device_id,)).fetchone()[0]


def test_a_crash_mid_alert_loses_nothing_and_opens_no_second_alert(
    alerts, make_sensor, make_rule, subscribe, webhook, api, db
):
    tank = make_sensor("tank_sensor")
    make_rule(**overpressure(tank.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    alerts.wait_in_force()
    t0 = datetime.now(UTC) - timedelta(seconds=60)

    tank.send(pressure(tank, 1700, t0))
    firing = wait_until(lambda: webhook.accepted(), 30)[0]
    alerts.stop(crash=True)  # no drain, no final checkpoint: as if the process was killed

    # While it is down the gateway keeps storing: still high, then back to normal.
    tank.send(pressure(tank, 1750, t0 + timedelta(seconds=1)))
    tank.send(pressure(tank, 1400, t0 + timedelta(seconds=2)))
    wait_until(lambda: stored(db, tank.device_id) == 3, 30)

    alerts.start()  # the catch-up evaluates what was stored meanwhile
    resolved = wait_until(lambda: [d for d in webhook.accepted() if d.kind == "resolved"], 30)[0]
    assert resolved.alert_id == firing.alert_id
    assert [d.kind for d in webhook.accepted()] == ["firing", "resolved"]
    history = api.get("/api/v1/alerts", params={"site": tank.site}).json()
    assert [a["alert_id"] for a in history] == [firing.alert_id]
    assert history[0]["count"] == 2 and history[0]["state"] == "resolved"


def test_a_restart_resumes_a_delivery_that_had_not_got_through(alerts, make_sensor, make_rule, subscribe, webhook, api):
    tank = make_sensor("tank_sensor")
    make_rule(**overpressure(tank.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    alerts.wait_in_force()

    webhook.fail_with(503)
    tank.send(pressure(tank, 1700, datetime.now(UTC)))
    first_try = wait_until(lambda: webhook.deliveries, 30)[0]
    alerts.restart(crash=True)
    webhook.fail_with(None)

    delivered = wait_until(lambda: webhook.accepted(), 30)[0]
    assert delivered.delivery_id == first_try.delivery_id and delivered.alert_id == first_try.alert_id
    tank.send(pressure(tank, 1720, datetime.now(UTC)))  # still high after the restart: the same alert
    wait_until(lambda: api.get(f"/api/v1/alerts/{delivered.alert_id}").json()["count"] == 2, 30)
    assert len(api.get("/api/v1/alerts", params={"site": tank.site}).json()) == 1
    assert {d.delivery_id for d in webhook.accepted()} == {delivered.delivery_id}


def test_an_evaluator_falling_behind_the_stream_catches_up_from_the_database(
    gateway, alert_settings, make_sensor, make_rule, subscribe, webhook, api
):
    # Room for one batch, no waiting: the ingest never slows down for alerting.
    running = RunningAlerts(gateway, alert_settings(queue_max=1, queue_put_timeout_s=0))
    try:
        service = running.service
        assert service is not None
        tank = make_sensor("tank_sensor")
        make_rule(**overpressure(tank.site))
        subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
        running.wait_in_force()

        evaluate = service._apply

        def sluggish(events, marks):  # an evaluator slower than the stream
            time.sleep(0.3)
            evaluate(events, marks)

        setattr(service, "_apply", sluggish)  # noqa: B010  # a slow evaluator, for this test only
        t0 = datetime.now(UTC) - timedelta(seconds=30)
        for i in range(30):
            tank.send(pressure(tank, 900 + i, t0 + timedelta(seconds=i)))
            time.sleep(0.03)  # separate batches
        wait_until(lambda: service.stats.overflows > 0, 30)
        tank.send(pressure(tank, 1700, t0 + timedelta(seconds=31)))
        setattr(service, "_apply", evaluate)  # noqa: B010

        firing = wait_until(lambda: webhook.accepted(), 30)[0]
        assert firing.body["device_id"] == tank.device_id and firing.body["value"] == 1700
        assert service.stats.replayed > 0  # what the queue could not take came from the database
        assert len(api.get("/api/v1/alerts", params={"site": tank.site}).json()) == 1
    finally:
        running.stop()
