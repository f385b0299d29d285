"""Rules, subscriptions and silences over the API: created with an id, refused with a clear
reason, and a subscriber's subscriptions kept to itself. The secret never comes back."""

from __future__ import annotations

from typing import Any

import pytest

THRESHOLD = {
    "name": "tank overpressure",
    "kind": "threshold",
    "metric": "tank_pressure_kpa",
    "op": ">",
    "value": 1600,
    "severity": "critical",
}


def error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


def test_a_rule_is_created_listed_and_deleted_by_its_id(api):
    created = api.post("/api/v1/rules", json={**THRESHOLD, "for_s": 30, "clear_value": 1500, "site": "north"})
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["id"] and rule["kind"] == "threshold" and rule["for_s"] == 30 and rule["created_by"].startswith("admin")
    assert rule["id"] in [r["id"] for r in api.get("/api/v1/rules").json()]
    assert api.get(f"/api/v1/rules/{rule['id']}").json() == rule

    deleted = api.delete(f"/api/v1/rules/{rule['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == rule["id"]
    assert rule["id"] not in [r["id"] for r in api.get("/api/v1/rules").json()]
    error(api.delete(f"/api/v1/rules/{rule['id']}"), 404)


def test_every_rule_kind_is_accepted(api):
    bodies: list[dict[str, Any]] = [
        {**THRESHOLD, "kind": "rate", "per_s": 5, "window_s": 30, "value": None},
        {
            "name": "tracker silent",
            "kind": "absence",
            "silence_s": 300,
            "severity": "warning",
            "device_type": "gps_tracker",
        },
        {"name": "overstay", "kind": "dwell", "max_hours": 4, "severity": "warning"},
        {"name": "refused", "kind": "gate_failure", "check_codes": ["permitted_media"], "severity": "critical"},
    ]
    for body in bodies:
        body = {k: v for k, v in body.items() if v is not None}
        response = api.post("/api/v1/rules", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["kind"] == body["kind"]
        api.delete(f"/api/v1/rules/{response.json()['id']}")


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"metric": "tank_pressure_psi"}, ["metric", "unknown metric 'tank_pressure_psi'"]),
        ({"op": "=>"}, ["op"]),
        ({"kind": "sometimes"}, ["kind", "sometimes"]),
        ({"for": 30}, ["for"]),
        ({"value": 20000}, ["value", "valid range"]),
        ({"clear_value": 1700}, ["clear_value", "above value"]),
        ({"device_type": "gps_tracker"}, ["gps_tracker", "tank_pressure_kpa"]),
        ({"severity": "apocalyptic"}, ["severity"]),
    ],
    ids=[
        "unknown-metric",
        "bad-operator",
        "unknown-kind",
        "typo-field",
        "out-of-range",
        "clear-wrong-side",
        "wrong-type",
        "bad-severity",
    ],
)
def test_bad_rules_are_refused_naming_what_is_wrong(api, change, names):
    err = error(api.post("/api/v1/rules", json={**THRESHOLD, **change}), 422)
    for name in names:
        assert name in err["message"], err


def test_officers_manage_rules_and_subscribers_may_not(client_for):
    officer, subscriber = client_for("officer"), client_for("subscriber")
    created = officer.post("/api/v1/rules", json=THRESHOLD)
    assert created.status_code == 201
    officer.delete(f"/api/v1/rules/{created.json()['id']}")
    assert error(subscriber.post("/api/v1/rules", json=THRESHOLD), 403)["code"] == "forbidden"
    error(subscriber.get("/api/v1/alerts"), 403)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://duty.example/hook", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://100.100.100.200/latest/meta-data/", "metadata"),
        ("http://169.254.10.1/hook", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://2852039166/", "metadata"),
        ("http://user:pw@duty.example/hook", "credentials"),
    ],
)
def test_webhooks_to_unsafe_or_non_http_urls_are_refused(api, url, reason):
    body = {"channel": "webhook", "url": url, "secret": "s3cret"}
    err = error(api.post("/api/v1/subscriptions", json=body), 422)
    assert reason in err["message"] and "url" in err["message"], err


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"channel": "pager"}, "channel"),
        ({"channel": "webhook", "url": "http://duty.example/hook"}, "secret"),
        ({"channel": "mqtt", "topic": "hazgate/v1/north/devices/x/telemetry"}, "topic"),
        ({"channel": "mqtt", "topic": "alerts/#"}, "wildcards"),
        ({"channel": "email", "to": "not-an-address"}, "e-mail address"),
        ({"channel": "stream", "min_severity": "loud"}, "min_severity"),
    ],
)
def test_bad_subscriptions_are_refused_naming_what_is_wrong(api, body, name):
    assert name in error(api.post("/api/v1/subscriptions", json=body), 422)["message"]


def test_a_subscriber_sees_and_deletes_only_its_own_subscriptions_and_never_a_secret(client_for, api):
    alice, bob = client_for("subscriber"), client_for("subscriber")
    secret = "alice-very-secret-key"
    mine = alice.post(
        "/api/v1/subscriptions", json={"channel": "webhook", "url": "http://10.1.2.3/hook", "secret": secret}
    )
    assert mine.status_code == 201, mine.text
    assert secret not in mine.text and "secret" not in mine.json()
    theirs = bob.post("/api/v1/subscriptions", json={"channel": "email", "to": "bob@park.example"}).json()

    assert [s["id"] for s in alice.get("/api/v1/subscriptions").json()] == [mine.json()["id"]]
    assert [s["id"] for s in bob.get("/api/v1/subscriptions").json()] == [theirs["id"]]
    everyone = api.get("/api/v1/subscriptions")
    assert {mine.json()["id"], theirs["id"]} <= {s["id"] for s in everyone.json()}
    assert secret not in everyone.text

    error(alice.delete(f"/api/v1/subscriptions/{theirs['id']}"), 404)
    assert alice.delete(f"/api/v1/subscriptions/{mine.json()['id']}").status_code == 200
    assert alice.get("/api/v1/subscriptions").json() == []
    assert [s["id"] for s in bob.get("/api/v1/subscriptions").json()] == [theirs["id"]]
    bob.delete(f"/api/v1/subscriptions/{theirs['id']}")


def test_only_officers_route_escalations(client_for):
    body = {"channel": "email", "to": "chief@park.example", "tier": 1}
    assert error(client_for("subscriber").post("/api/v1/subscriptions", json=body), 403)
    officer = client_for("officer")
    created = officer.post("/api/v1/subscriptions", json=body)
    assert created.status_code == 201 and created.json()["tier"] == 1
    officer.delete(f"/api/v1/subscriptions/{created.json()['id']}")
    assert "tier" in error(officer.post("/api/v1/subscriptions", json={**body, "tier": 9}), 422)["message"]


def test_silences_need_a_matcher_and_an_end(api):
    assert "site" in error(api.post("/api/v1/silences", json={"duration_s": 60, "reason": "x"}), 422)["message"]
    assert error(api.post("/api/v1/silences", json={"site": "north", "reason": "maintenance"}), 422)
    past = {"site": "north", "reason": "x", "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}
    assert "ends_at" in error(api.post("/api/v1/silences", json=past), 422)["message"]
    created = api.post("/api/v1/silences", json={"site": "north", "duration_s": 600, "reason": "valve swap"})
    assert created.status_code == 201 and created.json()["active"], created.text
    assert created.json()["id"] in [s["id"] for s in api.get("/api/v1/silences").json()]
    assert api.delete(f"/api/v1/silences/{created.json()['id']}").status_code == 200
    assert created.json()["id"] not in [s["id"] for s in api.get("/api/v1/silences").json()]


def test_the_openapi_schema_describes_the_alerting_routes(api):
    schema = api.get("/openapi.json").json()
    for path in ("/api/v1/alerts", "/api/v1/alerts/{alert_id}/ack", "/api/v1/rules", "/api/v1/subscriptions"):
        assert path in schema["paths"], path
    components = schema["components"]["schemas"]
    assert "ThresholdRuleOut" in components and "secret" not in components["WebhookSubscriptionOut"]["properties"]
