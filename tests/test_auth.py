"""Who may do what: every role against every route family, by API key and by browser session;
keys that are expired, disabled or not keys at all; one party reaching for another's objects;
CSRF, rate limits, and the audit of every change."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.fixtures.browser import User, app_settings
from tests.fixtures.services import RunningApp

ROLES = ("admin", "officer", "kiosk", "subscriber")
STAFF = {"admin", "officer"}
RANDOM = "6f1c1f4e-8a5e-4c5a-9a43-0d4d1b5f0a11"

# (name, method, path, json body, roles allowed). Bodies are valid where the route would act,
# so an allowed caller gets past the role check (2xx, or 404 for the made-up id).
ROUTES: list[tuple[str, str, str, Any, set[str]]] = [
    ("devices", "GET", "/api/v1/devices", None, STAFF),
    ("telemetry", "GET", "/api/v1/devices/nope/telemetry?metric=tank_pressure_kpa", None, STAFF),
    ("rejected", "GET", "/api/v1/rejected", None, STAFF),
    ("inspections", "GET", "/api/v1/inspections", None, STAFF | {"kiosk"}),
    ("inspection", "GET", f"/api/v1/inspections/{RANDOM}", None, STAFF | {"kiosk"}),
    ("override", "POST", f"/api/v1/inspections/{RANDOM}/override", {"result": "pass", "reason": "auth test"}, STAFF),
    ("gates", "GET", "/api/v1/gates", None, STAFF | {"kiosk"}),
    ("gate_images", "GET", f"/api/v1/gate-images?inspection_id={RANDOM}", None, STAFF),
    ("gate_image", "GET", f"/api/v1/gate-images/{RANDOM}", None, STAFF),
    ("alerts", "GET", "/api/v1/alerts?state=open", None, STAFF),
    ("alert_ack", "POST", f"/api/v1/alerts/{RANDOM}/ack", {}, STAFF),
    ("alert_resolve", "POST", f"/api/v1/alerts/{RANDOM}/resolve", {}, STAFF),
    ("rules", "GET", "/api/v1/rules", None, STAFF),
    ("rule_delete", "DELETE", f"/api/v1/rules/{RANDOM}", None, STAFF),
    ("silences", "GET", "/api/v1/silences", None, STAFF),
    ("subscriptions", "GET", "/api/v1/subscriptions", None, STAFF | {"subscriber"}),
    ("subscription_delete", "DELETE", f"/api/v1/subscriptions/{RANDOM}", None, STAFF | {"subscriber"}),
    ("users", "GET", "/api/v1/users", None, {"admin"}),
    ("user_patch", "PATCH", "/api/v1/users/999999999", {"enabled": True}, {"admin"}),
    ("audit", "GET", "/api/v1/audit", None, {"admin"}),
    ("me", "GET", "/api/v1/auth/me", None, set(ROLES)),
]
STREAMS: list[tuple[str, str, set[str]]] = [
    ("stream_inspections", "/api/v1/stream?topics=inspections", STAFF | {"kiosk"}),
    ("stream_all", "/api/v1/stream?topics=inspections,devices,telemetry,alerts", STAFF),
]


@pytest.fixture(scope="module")
def people(make_user) -> dict[str, User]:
    site = f"s{uuid.uuid4().hex[:6]}"
    return {
        "admin": make_user("admin"),
        "officer": make_user("officer"),
        "kiosk": make_user("kiosk", site=site, gate="g1"),
        "subscriber": make_user("subscriber"),
    }


@pytest.fixture(scope="module")
def sessions(people, pages_server) -> Iterator[dict[str, tuple[httpx.Client, str]]]:
    out = {}
    for role, user in people.items():
        client = httpx.Client(base_url=pages_server.base_url)
        body = client.post("/api/v1/auth/login", json={"username": user.name, "password": user.password}).json()
        out[role] = (client, body["csrf_token"])
    yield out
    for client, _ in out.values():
        client.close()


def call(client: httpx.Client, method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return client.request(method, path, json=body, headers=headers)


def assert_allowed(response: httpx.Response, role: str, name: str) -> None:
    assert response.status_code not in (401, 403), f"{role} refused {name}: {response.text}"
    assert response.status_code < 500, response.text


def assert_refused(response: httpx.Response, status: int, role: str, name: str) -> None:
    assert response.status_code == status, f"{role} on {name}: {response.status_code} {response.text}"
    error = response.json()["error"]
    assert set(error) >= {"code", "message"} and error["message"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method", "path", "body", "allowed"), ROUTES, ids=[r[0] for r in ROUTES])
def test_each_role_by_api_key_reaches_only_its_routes(pages_server, people, role, name, method, path, body, allowed):
    with httpx.Client(base_url=pages_server.base_url) as client:
        response = call(client, method, path, body, people[role].bearer())
    if role in allowed:
        assert_allowed(response, role, name)
    else:
        assert_refused(response, 403, role, name)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method", "path", "body", "allowed"), ROUTES, ids=[r[0] for r in ROUTES])
def test_each_role_by_browser_session_reaches_only_its_routes(sessions, role, name, method, path, body, allowed):
    client, csrf = sessions[role]
    response = call(client, method, path, body, {"X-CSRF-Token": csrf})
    if role in allowed:
        assert_allowed(response, role, name)
    else:
        assert_refused(response, 403, role, name)


@pytest.mark.parametrize(("name", "method", "path", "body", "allowed"), ROUTES, ids=[r[0] for r in ROUTES])
def test_nobody_unauthenticated_gets_in(pages_server, name, method, path, body, allowed):
    with httpx.Client(base_url=pages_server.base_url) as client:
        response = call(client, method, path, body, {})
    assert_refused(response, 401, "anonymous", name)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "path", "allowed"), STREAMS, ids=[s[0] for s in STREAMS])
def test_the_live_stream_is_scoped_by_role(pages_server, people, role, name, path, allowed):
    with (
        httpx.Client(base_url=pages_server.base_url, timeout=10) as client,
        client.stream("GET", path, headers=people[role].bearer()) as response,
    ):
        if role not in allowed:
            response.read()
            assert_refused(response, 403, role, name)
            return
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        first = next(response.iter_lines())
        assert first.startswith("retry:") or first.startswith("event: ready")


# --- keys that are not (or no longer) keys ----------------------------------------------------


def test_expired_disabled_and_made_up_keys_are_refused(pages_server, make_user, db):
    expired, disabled = make_user("officer"), make_user("officer")
    db.execute("UPDATE users SET expires_at = now() - interval '1 minute' WHERE id = %s", (expired.id,))
    db.execute("UPDATE users SET enabled = false WHERE id = %s", (disabled.id,))
    with httpx.Client(base_url=pages_server.base_url) as client:
        for key in (expired.api_key, disabled.api_key, "hzg_" + "x" * 43, "not-a-key"):
            response = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 401, key
            assert response.json()["error"]["code"] in ("invalid_api_key", "unauthenticated")


def test_a_device_s_broker_credentials_open_nothing_in_the_api(pages_server, make_device):
    device = make_device("tank_sensor", connect=False)
    with httpx.Client(base_url=pages_server.base_url) as client:
        as_bearer = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {device.password}"})
        as_basic = client.get("/api/v1/devices", auth=(device.device_id, device.password))
        as_login = client.post("/api/v1/auth/login", json={"username": device.device_id, "password": device.password})
    assert as_bearer.status_code == 401
    assert as_basic.status_code == 401
    assert as_login.status_code == 401 and as_login.json()["error"]["code"] == "invalid_credentials"


def test_keys_and_passwords_are_stored_only_as_hashes(people, db):
    user = people["officer"]
    row = db.execute("SELECT api_key_hash, password_hash FROM users WHERE id = %s", (user.id,)).fetchone()
    assert user.api_key not in row[0] and row[0] != user.api_key
    assert row[1].startswith("scrypt$") and user.password not in row[1]


# --- one party reaching for another's objects ------------------------------------------------


def insert_inspection(db, site: str, gate: str, plate: str) -> str:
    inspection_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO inspections (id, site, gate_id, plate, opened_at, updated_at, result, checks, missing, inputs)"
        " VALUES (%s, %s, %s, %s, %s, %s, 'fail', '[]', '[]', '{}')",
        (inspection_id, site, gate, plate, now, now),
    )
    return inspection_id


def test_a_kiosk_sees_its_own_gate_and_nothing_of_another(pages_server, make_user, db):
    site = f"s{uuid.uuid4().hex[:6]}"
    mine = insert_inspection(db, site, "gA", "浙B11111")
    theirs = insert_inspection(db, site, "gB", "浙B22222")
    kiosk_a = make_user("kiosk", site=site, gate="gA")
    with httpx.Client(base_url=pages_server.base_url, headers=kiosk_a.bearer()) as client:
        assert client.get(f"/api/v1/inspections/{mine}").status_code == 200
        other = client.get(f"/api/v1/inspections/{theirs}")
        assert other.status_code == 404, "another gate's inspection does not even exist for this kiosk"
        assert client.get("/api/v1/inspections", params={"site": site, "gate": "gB"}).status_code == 403
        listed = client.get("/api/v1/inspections").json()
        assert {i["gate_id"] for i in listed} == {"gA"} and {i["site"] for i in listed} == {site}
        gates = client.get("/api/v1/gates", params={"site": site}).json()
        assert all((g["site"], g["gate_id"]) == (site, "gA") for g in gates)
        images = client.get(f"/api/v1/gate-images?inspection_id={mine}")
        assert images.status_code == 403, "face images are for officers only"


def test_a_subscriber_sees_and_deletes_only_its_own_subscriptions(pages_server, make_user):
    alice, bob = make_user("subscriber"), make_user("subscriber")
    body = {"channel": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s" * 24}
    with httpx.Client(base_url=pages_server.base_url) as client:
        created = client.post("/api/v1/subscriptions", json=body, headers=alice.bearer())
        assert created.status_code == 201, created.text
        sub_id = created.json()["id"]
        assert sub_id not in [s["id"] for s in client.get("/api/v1/subscriptions", headers=bob.bearer()).json()]
        assert client.delete(f"/api/v1/subscriptions/{sub_id}", headers=bob.bearer()).status_code == 404
        assert client.delete(f"/api/v1/subscriptions/{sub_id}", headers=alice.bearer()).status_code == 200


def test_a_kiosk_stream_carries_only_its_own_gate(pages_server, make_user, settings):
    """Decisions of two gates go through the broker; the kiosk of gate A is told only of A's."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    site = f"s{uuid.uuid4().hex[:6]}"
    kiosk_a = make_user("kiosk", site=site, gate="gA")
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}")
    publisher.username_pw_set(settings.mqtt.username, settings.mqtt_password)
    publisher.connect(settings.mqtt_host, settings.mqtt_port)
    publisher.loop_start()
    seen: list[dict[str, Any]] = []
    try:
        with (
            httpx.Client(base_url=pages_server.base_url, timeout=20) as client,
            client.stream("GET", "/api/v1/stream?topics=inspections", headers=kiosk_a.bearer()) as response,
        ):
            lines = response.iter_lines()
            assert next(lines).startswith("retry:")
            for gate in ("gB", "gA"):
                decision = {
                    "inspection_id": str(uuid.uuid4()),
                    "plate": f"浙B{gate}",
                    "result": "pending",
                    "checks": [],
                }
                topic = f"hazgate/v1/{site}/gates/{gate}/decision"
                publisher.publish(topic, json.dumps(decision), qos=1).wait_for_publish(5)
            for line in lines:
                if line.startswith("data:") and "inspection_id" in line:
                    seen.append(json.loads(line[5:]))
                    break
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    assert [d["gate_id"] for d in seen] == ["gA"], "gate B's decision (published first) never reached kiosk A"


# --- sessions: cookies, CSRF, expiry ---------------------------------------------------------


def test_a_login_sets_a_strict_httponly_cookie_and_a_csrf_token(pages_server, people):
    officer = people["officer"]
    with httpx.Client(base_url=pages_server.base_url) as client:
        response = client.post("/api/v1/auth/login", json={"username": officer.name, "password": officer.password})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert "secure" not in cookie, "plain HTTP on loopback by default (HAZGATE_API__AUTH__COOKIE_SECURE)"
        assert response.json()["user"]["role"] == "officer" and response.json()["csrf_token"]
        assert client.get("/api/v1/auth/me").json()["via"] == "session"


def test_a_secure_cookie_when_configured(settings):
    with (
        RunningApp(app_settings(settings, cookie_secure=True)) as app,
        httpx.Client(base_url=app.base_url) as client,
    ):
        admin = _admin(settings)
        response = client.post("/api/v1/auth/login", json={"username": admin[0], "password": admin[1]})
        assert "secure" in response.headers["set-cookie"].lower()


def _admin(settings) -> tuple[str, str]:
    from api.auth import add_user

    name, password = f"adm-{uuid.uuid4().hex[:6]}", "correct horse battery"
    with psycopg.connect(settings.db_url) as conn:
        add_user(conn, name, "admin", password=password)
    return name, password


def test_cookie_requests_that_change_something_need_the_csrf_token_and_our_origin(login, people):
    session = login(people["officer"])
    body = {"result": "pass", "reason": "auth test"}
    path = f"/api/v1/inspections/{RANDOM}/override"
    no_token = session.client.post(path, json=body)
    assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_failed"
    wrong = session.client.post(path, json=body, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    foreign = session.post(path, json=body, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "cross_origin"
    assert session.post(path, json=body).status_code == 404, "with the token it reaches the route"
    assert session.client.get("/api/v1/devices").status_code == 200, "reading needs no token"


def test_logout_ends_the_session_for_good(login, people, pages_server):
    session = login(people["officer"])
    token = session.client.cookies["hazgate_session"]
    assert session.post("/api/v1/auth/logout").json() == {"logged_out": True}
    assert session.client.get("/api/v1/auth/me").status_code == 401
    with httpx.Client(base_url=pages_server.base_url, cookies={"hazgate_session": token}) as replay:
        assert replay.get("/api/v1/auth/me").status_code == 401, "the old cookie, replayed, is dead"


def test_an_idle_session_ends(pages_server, people, db):
    officer = people["officer"]
    with httpx.Client(base_url=pages_server.base_url) as client:
        body = client.post("/api/v1/auth/login", json={"username": officer.name, "password": officer.password}).json()
        token = client.cookies["hazgate_session"]
        db.execute("UPDATE user_sessions SET last_seen_at = now() - interval '1 day' WHERE user_id = %s", (officer.id,))
    with httpx.Client(base_url=pages_server.base_url, cookies={"hazgate_session": token}) as replay:
        response = replay.get("/api/v1/auth/me")
        assert response.status_code == 401 and response.json()["error"]["code"] == "session_expired"
    assert body["csrf_token"]


def test_wrong_passwords_and_unknown_users_get_the_same_answer(pages_server, people):
    with httpx.Client(base_url=pages_server.base_url) as client:
        wrong = client.post("/api/v1/auth/login", json={"username": people["admin"].name, "password": "wrong-one!"})
        unknown = client.post("/api/v1/auth/login", json={"username": "nobody-at-all", "password": "wrong-one!"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_pages_send_people_without_a_session_to_the_login_page(pages_server, people, login):
    with httpx.Client(base_url=pages_server.base_url, follow_redirects=False) as client:
        assert client.get("/").headers["location"] == "/login?next=/"
        assert client.get("/kiosk/s1/g1").headers["location"] == "/login?next=/kiosk/s1/g1"
        page = client.get("/login")
        assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    kiosk = login(people["kiosk"])
    redirect = kiosk.client.get("/", follow_redirects=False)
    assert redirect.headers["location"] == f"/kiosk/{people['kiosk'].site}/g1", "a kiosk account opens its gate"
    assert "此账号无权访问" in kiosk.client.get("/kiosk/other/g9").text
    subscriber = login(people["subscriber"])
    assert "此账号无权访问" in subscriber.client.get("/").text


# --- rate limits -----------------------------------------------------------------------------


def test_login_is_rate_limited_per_user_and_per_address(settings):
    name, password = _admin(settings)
    limited = app_settings(settings, login_per_ip=6, login_failures_per_user=3, login_window_s=60)
    with RunningApp(limited) as app, httpx.Client(base_url=app.base_url) as client:
        tries = [client.post("/api/v1/auth/login", json={"username": name, "password": "nope-nope!"}) for _ in range(4)]
        assert [r.status_code for r in tries] == [401, 401, 401, 429]
        assert int(tries[-1].headers["retry-after"]) > 0
        assert tries[-1].json()["error"]["code"] == "rate_limited"
        right = client.post("/api/v1/auth/login", json={"username": name, "password": password})
        assert right.status_code == 429, "even the right password waits once a guesser tripped the limit"
        others = [
            client.post("/api/v1/auth/login", json={"username": f"x{i}", "password": "nope-nope!"}) for i in range(3)
        ]
        assert others[-1].status_code == 429, "and the address is limited across user names"


def test_face_images_are_rate_limited_per_person(settings, make_user):
    officer = make_user("officer")
    limited = app_settings(settings, face_images_per_user=3, face_window_s=60)
    with RunningApp(limited) as app, httpx.Client(base_url=app.base_url, headers=officer.bearer()) as client:
        codes = [client.get(f"/api/v1/gate-images/{uuid.uuid4()}").status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]


# --- the audit ---------------------------------------------------------------------------------


def audit_rows(db, actor: str) -> list[dict[str, Any]]:
    cur = db.execute(
        "SELECT actor, role, via, action, object, status, detail FROM person_audit WHERE actor = %s ORDER BY id",
        (actor,),
    )
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def test_every_change_by_a_person_is_on_record(pages_server, make_user, login, db):
    officer = make_user("officer")
    session = login(officer)
    rule = {"name": "audit test", "kind": "threshold", "metric": "tank_pressure_kpa", "op": ">", "value": 9000,
            "for_s": 0, "severity": "info", "site": f"nowhere{uuid.uuid4().hex[:4]}"}  # fmt: skip
    created = session.post("/api/v1/rules", json=rule)
    assert created.status_code == 201, created.text
    session.post(f"/api/v1/inspections/{RANDOM}/override", json={"result": "fail", "reason": "audit test"})
    with httpx.Client(base_url=pages_server.base_url) as client:
        client.post("/api/v1/auth/login", json={"username": officer.name, "password": "wrong password"})
    rows = audit_rows(db, officer.name)
    actions = [(r["action"], r["status"], r["via"]) for r in rows]
    assert actions[0] == ("login", 200, "session")
    assert ("POST /api/v1/rules", 201, "session") in actions
    assert ("POST /api/v1/inspections/{inspection_id}/override", 404, "session") in actions, "refusals too"
    assert ("login_failed", 401, "anonymous") in actions
    rule_row = next(r for r in rows if r["action"] == "POST /api/v1/rules")
    assert rule_row["detail"]["body"]["metric"] == "tank_pressure_kpa" and rule_row["role"] == "officer"


def test_user_administration_is_audited_and_secrets_never_recorded(pages_server, people, db):
    admin = people["admin"]
    name = f"kiosk-{uuid.uuid4().hex[:6]}"
    body = {"name": name, "role": "kiosk", "site": "s1", "gate_id": "g1", "password": "a long kiosk password"}
    with httpx.Client(base_url=pages_server.base_url, headers=admin.bearer()) as client:
        created = client.post("/api/v1/users", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["api_key"].startswith("hzg_") and created.json()["can_log_in"]
        user_id = created.json()["id"]
        again = client.post("/api/v1/users", json=body)
        assert again.status_code == 409 and again.json()["error"]["code"] == "user_exists"
        weak = client.post("/api/v1/users", json={**body, "name": f"{name}-2", "password": "short"})
        assert weak.status_code == 422 and weak.json()["error"]["code"] == "invalid_user"
        assert client.patch(f"/api/v1/users/{user_id}", json={"enabled": False}).status_code == 200
        assert client.patch(f"/api/v1/users/{admin.id}", json={"enabled": False}).status_code == 409
        audit = client.get("/api/v1/audit", params={"actor": admin.name}).json()
    actions = {a["action"]: a for a in audit}
    assert actions["user_created"]["detail"]["name"] == name
    assert actions["user_changed"]["detail"] == {"enabled": False}
    dumped = json.dumps(audit)
    assert "a long kiosk password" not in dumped and created.json()["api_key"] not in dumped


def test_hazgate_users_add_with_a_password_is_audited(settings, db, monkeypatch, capsys):
    from hazgate import cli

    monkeypatch.setenv("HAZGATE_DATABASE_URL", settings.db_url)
    monkeypatch.setenv("HAZGATE_STATE_DIR", str(settings.state_dir))
    monkeypatch.setattr("sys.stdin", io.StringIO("kiosk password 12345\n"))
    name = f"cli-kiosk-{uuid.uuid4().hex[:6]}"
    code = cli.main(
        ["users", "add", "--name", name, "--role", "kiosk", "--site", "s1", "--gate", "g1", "--password", "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["api_key"].startswith("hzg_") and out["can_log_in"] is True
    row = db.execute(
        "SELECT actor, via, action, detail FROM person_audit WHERE object = %s", (f"user:{out['id']}",)
    ).fetchone()
    assert row[0].startswith("cli:") and row[1] == "cli" and row[2] == "user_created" and row[3]["role"] == "kiosk"


# --- one error shape -------------------------------------------------------------------------


def test_every_error_has_one_shape(pages_server, people):
    with httpx.Client(base_url=pages_server.base_url, headers=people["admin"].bearer()) as client:
        answers = [
            client.get("/api/v1/no-such-thing"),
            client.put("/api/v1/devices"),
            client.get("/api/v1/inspections", params={"limit": 0}),
            client.get(f"/api/v1/inspections/{RANDOM}"),
            client.post("/api/v1/users", content=b"{not json", headers={"Content-Type": "application/json"}),
        ]
    for response in answers:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), response.text
    assert [r.status_code for r in answers] == [404, 405, 422, 404, 422]


def test_sessions_end_when_an_admin_disables_the_person(pages_server, people, make_user, login):
    officer = make_user("officer")
    session = login(officer)
    with httpx.Client(base_url=pages_server.base_url, headers=people["admin"].bearer()) as admin:
        assert admin.patch(f"/api/v1/users/{officer.id}", json={"enabled": False}).status_code == 200
    assert session.client.get("/api/v1/auth/me").status_code == 401
    assert httpx.get(f"{pages_server.base_url}/api/v1/devices", headers=officer.bearer()).status_code == 401


def test_expired_users_cannot_log_in(pages_server, make_user, db):
    user = make_user("officer")
    db.execute("UPDATE users SET expires_at = %s WHERE id = %s", (datetime.now(UTC) - timedelta(seconds=1), user.id))
    with httpx.Client(base_url=pages_server.base_url) as client:
        response = client.post("/api/v1/auth/login", json={"username": user.name, "password": user.password})
    assert response.status_code == 401
