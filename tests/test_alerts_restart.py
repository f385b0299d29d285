"""Alert evaluation dies mid-alert and comes back: nothing lost, no second alert opened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg.types.json import Jsonb

from tests.fixtures.alerts import TANK, overpressure
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


def test_a_reading_stored_by_any_writer_is_evaluated_with_no_gateway_involved(
    alerts, make_sensor, make_rule, subscribe, webhook, db
):
    # Evaluation reads the stored stream: a reading stored by another process (here plain SQL,
    # as a second gateway or the JT/T 808 listener would) is evaluated like any other.
    tank = make_sensor("tank_sensor", connect=False)
    make_rule(**overpressure(tank.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    alerts.wait_in_force()

    db.execute(
        'INSERT INTO telemetry (ts, device_id, seq, site, "values") VALUES (now(), %s, 1, %s, %s)',
        (tank.device_id, tank.site, Jsonb({**TANK, "tank_pressure_kpa": 1700.0})),
    )
    firing = wait_until(lambda: webhook.accepted(), 30)[0]  # no NOTIFY: found by the evaluator's poll
    assert firing.body["device_id"] == tank.device_id and firing.body["value"] == 1700
