"""Officers and time: escalation when nobody answers, acknowledgement stopping it, resolving by
hand, and silences holding notifications back until the maintenance window ends."""

from __future__ import annotations

import time

from hazgate.bench.webhook_receiver import WebhookReceiver
from tests.fixtures.alerts import TEST_ESCALATION_S, breach, overpressure
from tests.fixtures.mqtt import wait_until


def of(webhook, device_id: str, kind: str | None = None) -> list:
    return [d for d in webhook.accepted() if d.body.get("device_id") == device_id and (kind is None or d.kind == kind)]


def test_an_acknowledged_alert_stops_escalating_while_an_unanswered_one_escalates(
    alerts, make_sensor, make_rule, subscribe, webhook, client_for
):
    answered, ignored = make_sensor("tank_sensor"), make_sensor("tank_sensor")
    for tank in (answered, ignored):
        make_rule(**overpressure(tank.site))
    with WebhookReceiver("supervisor-secret") as supervisor:
        for tank in (answered, ignored):
            subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
            subscribe(channel="webhook", url=supervisor.url, secret=supervisor.secret, site=tank.site, tier=1)
        alerts.wait_in_force()

        breach(answered)
        breach(ignored)
        first = wait_until(lambda: of(webhook, answered.device_id, "firing"), 30)[0]
        wait_until(lambda: of(webhook, ignored.device_id, "firing"), 30)
        assert supervisor.accepted() == []  # tier 1 hears only of escalations

        officer = client_for("officer")
        acked = officer.post(f"/api/v1/alerts/{first.alert_id}/ack", json={"note": "valve crew on the way"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["state"] == "acknowledged" and acked.json()["acknowledged_by"].startswith("officer")
        assert [h["what"] for h in acked.json()["history"]] == ["fired", "acknowledged"]

        escalated = wait_until(lambda: of(supervisor, ignored.device_id, "escalation"), TEST_ESCALATION_S + 30)[0]
        assert escalated.body["state"] == "firing" and escalated.body["notification"]["tier"] == 1
        time.sleep(1.0)  # several ticks past the moment the acknowledged one would have escalated
        assert of(supervisor, answered.device_id) == []
        assert officer.post(f"/api/v1/alerts/{first.alert_id}/ack").json()["state"] == "acknowledged"  # twice: same


def test_an_officer_resolving_an_alert_notifies_subscribers_and_records_who(
    alerts, make_sensor, make_rule, subscribe, webhook, client_for
):
    tank = make_sensor("tank_sensor")
    make_rule(**overpressure(tank.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    alerts.wait_in_force()
    breach(tank)
    firing = wait_until(lambda: of(webhook, tank.device_id, "firing"), 30)[0]

    officer = client_for("officer")
    done = officer.post(f"/api/v1/alerts/{firing.alert_id}/resolve", json={"note": "sensor fault, replaced"})
    assert done.status_code == 200, done.text
    resolved = wait_until(lambda: of(webhook, tank.device_id, "resolved"), 30)[0]
    assert resolved.alert_id == firing.alert_id and resolved.body["resolve_reason"] == "manual"
    assert resolved.body["resolved_by"] == done.json()["resolved_by"] and resolved.body["resolved_by"].startswith(
        "officer"
    )
    history = officer.get(f"/api/v1/alerts/{firing.alert_id}").json()["history"]
    assert [(h["what"], h["note"]) for h in history][-1] == ("resolved", "sensor fault, replaced")
    assert officer.post(f"/api/v1/alerts/{firing.alert_id}/ack").status_code == 409  # nothing left to take

    # The condition still holds: the engine was released, so the next breach opens a new alert.
    breach(tank, 1800)
    again = wait_until(lambda: [d for d in of(webhook, tank.device_id, "firing") if d.alert_id != firing.alert_id], 30)
    assert again[0].body["state"] == "firing"


def test_a_silence_holds_notifications_back_until_it_ends(alerts, make_sensor, make_rule, subscribe, webhook, api):
    tank = make_sensor("tank_sensor")
    make_rule(**overpressure(tank.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tank.site)
    silence = api.post("/api/v1/silences", json={"site": tank.site, "duration_s": 600, "reason": "valve swap"})
    assert silence.status_code == 201, silence.text
    silence_id = silence.json()["id"]
    alerts.wait_in_force()
    assert silence_id in [s.id for s in alerts.config.silences]

    breach(tank)
    alert = wait_until(lambda: api.get("/api/v1/alerts", params={"site": tank.site}).json(), 30)[0]
    assert alert["state"] == "firing"  # recorded, and visible to officers
    time.sleep(1.5)  # ticks pass: still nothing goes out
    assert of(webhook, tank.device_id) == []

    assert api.delete(f"/api/v1/silences/{silence_id}").status_code == 200
    firing = wait_until(lambda: of(webhook, tank.device_id, "firing"), 30)[0]
    assert firing.alert_id == alert["alert_id"]
