"""Several evaluator processes on one database: they split the devices, take over from one that
dies, are held back (and say so) by a long transaction, and any process delivers correctly."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from alerts.delivery import DeliveryWorkers
from alerts.partitions import partition_of
from alerts.urlcheck import UrlPolicy
from hazgate.bench.webhook_receiver import WebhookReceiver
from tests.fixtures.alerts import TANK, RunningAlerts, breach, overpressure
from tests.fixtures.mqtt import wait_until
from tests.fixtures.services import RunningApp


def firing(webhook, site: str) -> list:
    return [d for d in webhook.accepted() if d.kind == "firing" and d.body.get("site") == site]


def spike(tank, ts: datetime) -> None:
    """Over the bound, then normal 1 ms later, in one message: one alert opens and resolves."""
    tank.send(
        tank.reading({**TANK, "tank_pressure_kpa": 1750.0}, ts),
        tank.reading({**TANK, "tank_pressure_kpa": 900.0}, ts + timedelta(milliseconds=1)),
    )


def test_two_evaluators_split_the_devices_and_one_killed_mid_stream_loses_and_doubles_nothing(
    gateway, alert_settings, make_sensor, make_rule, subscribe, webhook, api
):
    first = RunningAlerts(alert_settings())
    second = RunningAlerts(alert_settings(), alone=False)
    try:
        wait_until(lambda: len(first.evaluator.owned) == 16 and len(second.evaluator.owned) == 16, 30)
        site = f"split{uuid.uuid4().hex[:6]}"
        tanks: list = []
        while len(tanks) < 24 and not both_busy(tanks, first):
            tanks.append(make_sensor("tank_sensor", site=site))  # until each evaluator has two at least
        make_rule(**overpressure(site))
        subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=site)
        first.wait_in_force()
        second.wait_in_force()

        stop = threading.Event()
        background = threading.Thread(target=steady, args=(tanks, stop), daemon=True)
        background.start()
        t0 = datetime.now(UTC)
        for tank in tanks:
            spike(tank, t0)
        wait_until(lambda: len(firing(webhook, site)) == len(tanks), 30)
        assert first.evaluator.stats.evaluation.readings > 0 and second.evaluator.stats.evaluation.readings > 0

        second.stop(crash=True)  # mid-stream: what it evaluated but had not saved is replayed by the survivor
        t1 = datetime.now(UTC)
        for tank in tanks:
            spike(tank, t1)
        wait_until(lambda: len(first.evaluator.owned) == 32, 30)
        wait_until(lambda: len(firing(webhook, site)) == 2 * len(tanks), 30)
        stop.set()
        background.join(10)
        first.wait_evaluated()
        time.sleep(0.5)  # a late duplicate would show now

        alerts = api.get("/api/v1/alerts", params={"site": site, "limit": 500}).json()
        assert len(alerts) == 2 * len(tanks)
        assert all(a["state"] == "resolved" and a["count"] == 1 for a in alerts)
        ids = [d.delivery_id for d in firing(webhook, site)]
        assert len(ids) == len(set(ids)) == 2 * len(tanks)
    finally:
        second.stop()
        first.stop()


def both_busy(tanks: list, first: RunningAlerts) -> bool:
    mine = sum(partition_of(t.device_id, 32) in first.evaluator.owned for t in tanks)
    return len(tanks) >= 6 and 2 <= mine <= len(tanks) - 2


def steady(tanks: list, stop: threading.Event) -> None:
    """Normal readings from every tank until stopped: the stream the evaluators keep up with."""
    base = datetime.now(UTC) - timedelta(minutes=5)
    i = 0
    while not stop.is_set():
        for tank in tanks:
            tank.send(tank.reading({**TANK, "tank_pressure_kpa": 850.0}, base + timedelta(milliseconds=i)))
        i += 1
        time.sleep(0.05)


def test_a_long_open_transaction_holds_evaluation_back_loses_nothing_and_is_named(
    gateway, alert_settings, make_sensor, make_rule, subscribe, webhook, admin_key, caplog
):
    settings = alert_settings(lag_warn_s=1.0)
    running = RunningAlerts(settings)
    try:
        tank = make_sensor("tank_sensor")
        make_rule(**overpressure(tank.site))
        subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
        running.wait_in_force()
        with psycopg.connect(settings.db_url, application_name="forgotten psql") as blocker:
            row = blocker.execute("SELECT pg_backend_pid(), pg_current_xact_id()").fetchone()  # holds an id, open
            assert row is not None
            breach(tank)
            time.sleep(2.5)
            assert firing(webhook, tank.site) == []  # stored, but behind the open transaction
            with RunningApp(settings) as app:
                import httpx

                health = httpx.get(f"{app.base_url}/healthz", timeout=10).json()["alerts"]
            assert health["stream_lag_s"] >= 1.0 and health["blocker"]["pid"] == row[0]
            assert health["blocker"]["application"] == "forgotten psql"
            assert any("held back" in r.getMessage() and "forgotten psql" in r.getMessage() for r in caplog.records)
            blocker.rollback()
        delivered = wait_until(lambda: firing(webhook, tank.site), 30)
        assert delivered[0].body["device_id"] == tank.device_id
    finally:
        running.stop()


@pytest.mark.usefixtures("gateway")
def test_a_process_that_loaded_nothing_delivers_what_is_due_and_gives_up_only_on_deleted_subscriptions(
    alerts, alert_settings, make_sensor, make_rule, subscribe, webhook, api, db
):
    tank = make_sensor("tank_sensor")
    make_rule(**overpressure(tank.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    with WebhookReceiver("gone-secret") as gone:
        doomed = subscribe(channel="webhook", url=gone.url, secret=gone.secret, site=tank.site)
        alerts.wait_in_force()
        webhook.fail_with(503)
        gone.fail_with(503)
        breach(tank)
        wait_until(lambda: webhook.deliveries and gone.deliveries, 30)
        alerts.stop()  # evaluation and its delivery workers are gone; both rows are due
        assert api.delete(f"/api/v1/subscriptions/{doomed['id']}").status_code == 200
        webhook.fail_with(None)

        # A process that just started: nothing loaded, no evaluator at all. It reads each
        # subscription as stored when it sends.
        fresh = DeliveryWorkers(alert_settings(), UrlPolicy())
        fresh.start()
        try:
            delivered = wait_until(lambda: webhook.accepted(), 30)[0]
            outbox = "SELECT delivered_at, gave_up_at, last_error FROM alert_outbox WHERE subscription_id = %s"
            gave_up = wait_until(lambda: (r := db.execute(outbox, (doomed["id"],)).fetchone()) and r[1] and r, 30)
        finally:
            fresh.stop()
    assert delivered.body["device_id"] == tank.device_id and delivered.signature_ok
    assert gave_up[0] is None and gave_up[2].startswith("subscription deleted")
    assert fresh.stats.abandoned == 1 and fresh.stats.delivered == 1


def test_a_reading_committed_after_a_newer_one_is_late_and_opens_no_second_alert(
    alerts, make_sensor, make_rule, subscribe, webhook, api, db
):
    # Two gateways share a device's messages and commit them out of order: the breach, then the
    # all-clear stamped after it, then (late) a second high reading stamped between the two.
    tank = make_sensor("tank_sensor", connect=False)
    make_rule(**overpressure(tank.site, clear_value=1500))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    alerts.wait_in_force()
    t0 = datetime.now(UTC)

    def store(seq: int, ts: datetime, kpa: float) -> None:
        db.execute(
            'INSERT INTO telemetry (ts, device_id, seq, site, "values") VALUES (%s, %s, %s, %s, %s)',
            (ts, tank.device_id, seq, tank.site, Jsonb({**TANK, "tank_pressure_kpa": kpa})),
        )
        alerts.wait_evaluated()

    store(1, t0, 1750.0)
    store(3, t0 + timedelta(seconds=2), 900.0)
    store(2, t0 + timedelta(seconds=1), 1760.0)  # late
    wait_until(lambda: [d.kind for d in webhook.accepted()] == ["firing", "resolved"], 30)
    time.sleep(0.5)
    assert len(api.get("/api/v1/alerts", params={"site": tank.site}).json()) == 1
    assert alerts.evaluator.stats.evaluation.late >= 1
