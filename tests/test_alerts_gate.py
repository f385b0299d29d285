"""A tanker fails at the gate at 3 a.m.: the on-call officer's webhook hears of it."""

from __future__ import annotations

from tests.fixtures.gate import days
from tests.fixtures.mqtt import wait_until


def test_a_failed_gate_inspection_raises_an_alert_that_reaches_the_on_call_webhook(
    gateway, alerts, gate, crew, register, api, webhook, db
):
    rule = api.post(
        "/api/v1/rules",
        json={"name": "gate refused a tanker", "kind": "gate_failure", "severity": "warning", "site": gate.site},
    ).json()
    sub = api.post(
        "/api/v1/subscriptions",
        json={"channel": "webhook", "url": webhook.url, "secret": webhook.secret, "site": gate.site},
    ).json()
    alerts.wait_in_force()
    crew.vehicle["tank"]["inspection_expires"] = days(-2)
    register(crew)
    gate.arrive(crew)
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "fail"
    firing = wait_until(lambda: webhook.accepted(), 60)[0]
    assert firing.signature_ok and firing.body["rule_id"] == rule["id"]
    assert firing.body["site"] == gate.site and crew.plate in str(firing.body)
    # The failure was recorded as an alert input in the decision's own transaction.
    row = db.execute(
        "SELECT count(*) FROM alert_inputs WHERE kind = 'inspection_failed' AND body->>'site' = %s", (gate.site,)
    ).fetchone()
    assert row[0] == 1
    wait_until(lambda: len(webhook.accepted()) >= 1, 5)
    assert len({d.body["alert_id"] for d in webhook.accepted()}) == 1, "one alert for one failed inspection"
    api.delete(f"/api/v1/rules/{rule['id']}")
    api.delete(f"/api/v1/subscriptions/{sub['id']}")
