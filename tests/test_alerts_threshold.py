"""Threshold rules on the live stream: a tank's pressure through the real broker, gateway and
database to a signed webhook — without flapping, after for_s, and even for a brief spike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fixtures.mqtt import wait_until

TANK = {"tank_temp_c": 18.0, "tank_level_pct": 60.0}


def pressure(device, kpa: float, ts: datetime | None = None) -> dict:
    return device.reading({**TANK, "tank_pressure_kpa": kpa}, ts)


def overpressure(site: str, **overrides) -> dict:
    return {
        "name": "LPG tank pressure high",
        "kind": "threshold",
        "metric": "tank_pressure_kpa",
        "op": ">",
        "value": 1600,
        "clear_value": 1500,
        "severity": "critical",
        "site": site,
        **overrides,
    }


def stored(db, device_id: str) -> int:
    return db.execute("SELECT count(*) FROM telemetry WHERE device_id = %s", (device_id,)).fetchone()[0]


def kinds(webhook, device_id: str) -> list[str]:
    return [d.kind for d in webhook.accepted() if d.body.get("device_id") == device_id]


def test_overpressure_with_hysteresis_opens_one_alert_and_resolves_once_below_the_clear_bound(
    alerts, make_sensor, make_rule, subscribe, webhook, api
):
    tank = make_sensor("tank_sensor")
    rule = make_rule(**overpressure(tank.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    alerts.wait_in_force()

    # Hovering around the bound: above, in the band, above, in the band. One alert, no flapping.
    t0 = datetime.now(UTC) - timedelta(seconds=30)
    for i, kpa in enumerate([1650, 1550, 1700, 1520]):
        tank.send(pressure(tank, kpa, t0 + timedelta(seconds=i)))
    firing = wait_until(lambda: kinds(webhook, tank.device_id) == ["firing"] and webhook.accepted(), 30)[0]
    assert firing.signature_ok and firing.body["state"] == "firing" and firing.body["rule_id"] == rule["id"]
    # The body is the alert as it stands when queued: readings of the same batch may be folded in.
    assert firing.body["value"] in (1650, 1550, 1700, 1520) and firing.body["severity"] == "critical"

    alert_id = firing.alert_id
    wait_until(lambda: api.get(f"/api/v1/alerts/{alert_id}").json()["count"] == 2, 30)
    assert api.get(f"/api/v1/alerts/{alert_id}").json()["state"] == "firing"

    tank.send(pressure(tank, 1400, t0 + timedelta(seconds=5)))
    wait_until(lambda: kinds(webhook, tank.device_id) == ["firing", "resolved"], 30)
    resolved = api.get(f"/api/v1/alerts/{alert_id}").json()
    assert resolved["state"] == "resolved" and resolved["resolved_by"] == "hazgate"
    assert resolved["resolve_reason"] == "cleared"
    opened = api.get("/api/v1/alerts", params={"site": tank.site}).json()
    assert [a["alert_id"] for a in opened] == [alert_id]  # one alert, not one per crossing


def test_pressure_must_stay_high_for_for_s_before_the_alert_fires(
    alerts, make_sensor, make_rule, subscribe, webhook, api, db
):
    tank = make_sensor("tank_sensor")
    make_rule(**overpressure(tank.site, for_s=10))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    alerts.wait_in_force()

    t0 = datetime.now(UTC) - timedelta(seconds=60)
    # High for 8 s, a dip resets the wait, then high again for 6 s: not yet.
    for s, kpa in [(0, 1700), (4, 1700), (8, 1700), (9, 1550), (10, 1700), (16, 1700)]:
        tank.send(pressure(tank, kpa, t0 + timedelta(seconds=s)))
    wait_until(lambda: stored(db, tank.device_id) == 6, 30)
    alerts.wait_evaluated()
    assert api.get("/api/v1/alerts", params={"site": tank.site}).json() == []

    tank.send(pressure(tank, 1710, t0 + timedelta(seconds=20)))  # high for 10 s since the dip
    firing = wait_until(lambda: webhook.accepted(), 30)[0]
    assert firing.kind == "firing" and firing.body["value"] == 1710
    assert firing.body["details"]["condition_since"].startswith((t0 + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M"))


def test_a_spike_that_clears_within_one_batch_is_still_announced_then_resolved(
    alerts, make_sensor, make_rule, subscribe, webhook
):
    tank = make_sensor("tank_sensor")
    make_rule(**overpressure(tank.site, clear_value=None))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    alerts.wait_in_force()

    t0 = datetime.now(UTC)
    tank.send(pressure(tank, 1800, t0), pressure(tank, 900, t0 + timedelta(milliseconds=1)))  # one message
    wait_until(lambda: kinds(webhook, tank.device_id) == ["firing", "resolved"], 30)
    first, last = webhook.accepted()
    assert first.body["state"] == "firing" and first.body["value"] == 1800
    assert last.body["state"] == "resolved" and first.alert_id == last.alert_id
