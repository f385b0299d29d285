"""The pages in a real browser (Debian's Chromium, headless, driven by Playwright): an officer
logs in and watches a tanker's inspection arrive live, acknowledges an alert; the kiosk shows the
five checks completing and tells a driver what to do. Screenshots stay in tests/artifacts/."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fixtures.browser import connected
from tests.fixtures.gate import days
from tests.fixtures.mqtt import wait_until

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

# A whole arrival includes face comparisons on a small shared machine.
ARRIVAL_MS = 90_000


def log_in(page, user) -> None:
    page.goto("/")
    page.wait_for_url(lambda url: "/login?next=" in url)
    page.fill("#username", user.name)
    page.fill("#password", user.password)
    page.click("#login-button")


def test_an_officer_logs_in_and_watches_a_tanker_s_inspection_arrive_live(page_for, make_user, gate, crew, register):
    officer = make_user("officer")
    watched = page_for()
    page = watched.page
    log_in(page, officer)
    page.wait_for_url(lambda url: url.endswith("/"))
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    expect(page.locator("#who")).to_contain_text(officer.name)

    register(crew)
    connected(*gate.devices.values())
    gate.arrive(crew)

    card = page.locator(f'[data-gate="{gate.site}/{gate.gate_id}"]')
    expect(card).to_contain_text(crew.plate, timeout=ARRIVAL_MS)
    row = page.locator("tr.row", has=page.locator("td.plate", has_text=crew.plate))
    expect(row).to_have_attribute("data-result", "pass", timeout=ARRIVAL_MS)
    expect(card.locator('.pill[data-status="pass"]')).to_have_count(5)
    assert page.url.endswith("/"), "no reload: the inspection came over the live stream"

    row.click()
    detail = page.locator("tr.detail")
    expect(detail.locator(".check")).to_have_count(len(gate.kiosk.final_decision(crew.plate)["checks"]))
    expect(detail).to_contain_text("人员资质")
    faces = detail.locator(".face img")
    expect(faces.first).to_be_visible()
    wait_until(lambda: page.evaluate("[...document.querySelectorAll('.face img')].every(i => i.naturalWidth > 0)"))
    assert faces.count() >= 4, "driver and escort: ID photo and live face each"
    watched.screenshot("dashboard-zh")

    page.click("#lang-toggle")
    expect(page.locator("#gates-h")).to_have_text("Gates")
    expect(detail).to_contain_text("Personnel")
    watched.screenshot("dashboard-en")
    assert watched.errors == []


def test_an_officer_acknowledges_an_alert_and_sees_the_telemetry_live(
    page_for, make_user, make_device, alerts, pages_server
):
    officer, admin = make_user("officer"), make_user("admin")
    sensor = make_device("tank_sensor")
    rule = {
        "name": f"罐压过高 {uuid.uuid4().hex[:4]}",
        "kind": "threshold",
        "metric": "tank_pressure_kpa",
        "op": ">",
        "value": 900,
        "for_s": 0,
        "severity": "critical",
        "site": sensor.site,
    }
    with httpx.Client(base_url=pages_server.base_url, headers=admin.bearer()) as api:
        created = api.post("/api/v1/rules", json=rule)
        assert created.status_code == 201, created.text
        rule_id = created.json()["id"]
    wait_until(lambda: alerts.has_rule(rule_id), 30)

    watched = page_for()
    page = watched.page
    log_in(page, officer)
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    expect(page.locator(f'tr[data-device="{sensor.device_id}"]')).to_be_visible()
    page.select_option("#chart-device", sensor.device_id)

    connected(sensor)
    sensor.send(sensor.reading({"tank_pressure_kpa": 812.0, "battery_pct": 64.0}))
    sensor.send(sensor.reading({"tank_pressure_kpa": 955.5, "battery_pct": 63.5}))

    alert = page.locator("article.alert", has_text=rule["name"])
    expect(alert).to_have_attribute("data-state", "firing", timeout=30_000)
    expect(page.locator(f'tr[data-device="{sensor.device_id}"]')).to_contain_text("64%")
    expect(page.locator("#chart canvas")).to_be_attached()

    def chart_spans_both_readings():
        # The ECharts chart keeps its data's extent on its element: both readings, not the last only.
        low, high = page.get_attribute("#chart", "data-min"), page.get_attribute("#chart", "data-max")
        return low and high and float(low) <= 850 and float(high) >= 900

    wait_until(chart_spans_both_readings, 15)
    watched.screenshot("dashboard-alert")

    alert.locator("button.ack").click()
    expect(alert).to_have_attribute("data-state", "acknowledged")
    alert_id = alert.get_attribute("data-alert")
    with httpx.Client(base_url=pages_server.base_url, headers=admin.bearer()) as api:
        body = api.get(f"/api/v1/alerts/{alert_id}").json()
        assert body["state"] == "acknowledged" and body["acknowledged_by"] == officer.name
        audit = api.get("/api/v1/audit", params={"actor": officer.name}).json()
        assert any(a["action"] == "POST /api/v1/alerts/{alert_id}/ack" and a["status"] == 200 for a in audit)
    watched.screenshot("dashboard-alert-acknowledged")

    alert.locator("button.silence").click()
    expect(alert).to_contain_text("已静默")
    alert.locator("button.resolve").click()
    expect(alert).to_have_count(0)
    expect(page.locator("#no-alerts")).to_be_visible()
    with httpx.Client(base_url=pages_server.base_url, headers=admin.bearer()) as api:
        assert api.get(f"/api/v1/alerts/{alert_id}").json()["resolved_by"] == officer.name
        silences = api.get("/api/v1/silences").json()
        assert any(s["rule_id"] == rule_id and s["created_by"] == officer.name for s in silences)
        api.delete(f"/api/v1/rules/{rule_id}")
    assert watched.errors == []


KIOSK_WATCH = """
() => {
  window.__snapshots = [];
  const list = document.getElementById('k-checks');
  const take = () => window.__snapshots.push([...list.children].map((li) => li.dataset.status).join(','));
  new MutationObserver(take).observe(list, { childList: true, subtree: true, attributes: true });
}
"""


def test_the_kiosk_shows_each_check_complete_and_tells_the_driver_what_to_do(page_for, make_user, gate, register, crew):
    from tests.fixtures.gate import make_crew

    kiosk = make_user("kiosk", site=gate.site, gate=gate.gate_id)
    watched = page_for(width=1080, height=1920)
    page = watched.page
    log_in(page, kiosk)
    page.wait_for_url(f"**/kiosk/{gate.site}/{gate.gate_id}")
    expect(page.locator("#k-live")).to_have_attribute("data-state", "live")
    expect(page.locator("#k-verdict")).to_contain_text("请停车接受检查")
    page.evaluate(KIOSK_WATCH)

    register(crew)
    connected(*gate.devices.values())
    gate.arrive(crew)
    expect(page.locator("#k-plate")).to_have_text(crew.plate, timeout=ARRIVAL_MS)
    expect(page.locator('#k-banner[data-result="pass"]')).to_be_visible(timeout=ARRIVAL_MS)
    expect(page.locator('.k-check[data-status="pass"]')).to_have_count(5)
    expect(page.locator("#k-verdict")).to_contain_text("检查通过，请通行")
    snapshots = page.evaluate("window.__snapshots")
    statuses = [s for s in dict.fromkeys(snapshots) if s and "idle" not in s]
    assert len(statuses) >= 2 and "pending" in statuses[0], f"the checks completed one by one: {statuses}"
    assert statuses[-1] == "pass,pass,pass,pass,pass"
    watched.screenshot("kiosk-pass")
    page.set_viewport_size({"width": 1920, "height": 1080})
    watched.screenshot("kiosk-pass-landscape")
    page.set_viewport_size({"width": 1080, "height": 1920})

    import random

    expired = make_crew(random.Random(uuid.uuid4().int))
    expired.vehicle["tank"]["inspection_expires"] = days(-3)
    register(expired)
    gate.arrive(expired)
    expect(page.locator("#k-plate")).to_have_text(expired.plate, timeout=ARRIVAL_MS)
    expect(page.locator('#k-banner[data-result="fail"]')).to_be_visible(timeout=ARRIVAL_MS)
    expect(page.locator('.k-check[data-status="pending"]')).to_have_count(0, timeout=ARRIVAL_MS)
    failed = page.locator('.k-check[data-check="inspection_validity"]')
    expect(failed).to_have_attribute("data-status", "fail")
    todo = page.locator('#k-todo li[data-reason="tank_inspection_expired"]')
    expect(todo).to_be_visible()
    zh = todo.locator(".zh").inner_text()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), f"the driver is told in Chinese: {zh!r}"
    watched.screenshot("kiosk-fail")
    assert watched.errors == []


def test_the_login_page_never_sends_anyone_to_another_site(page_for, make_user, pages_server):
    officer = make_user("officer")
    watched = page_for()
    page = watched.page
    for evil in ("//evil.example/x", "/\\evil.example/x", "https://evil.example/"):
        page.goto(f"/login?next={evil}")
        page.fill("#username", officer.name)
        page.fill("#password", officer.password)
        page.click("#login-button")
        page.wait_for_url(lambda url: "/login" not in url)
        assert page.url.startswith(pages_server.base_url), page.url
    assert watched.errors == []


def test_a_kiosk_account_cannot_open_another_gate_s_kiosk(page_for, make_user, gate):
    kiosk = make_user("kiosk", site=gate.site, gate="other-gate")
    watched = page_for()
    page = watched.page
    log_in(page, kiosk)
    page.wait_for_url("**/kiosk/*/other-gate")
    page.goto(f"/kiosk/{gate.site}/{gate.gate_id}")
    expect(page.locator("h1")).to_contain_text("此账号无权访问")
    assert watched.errors == []
