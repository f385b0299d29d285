"""The officer's screens for an emergency and for the monthly rating, in a real browser: the
response card opens under a chlorine tanker's alert and prints on its own page; the risk index
ranks this month's carriers and a red one goes on the blacklist with one click."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from hazgate.simulate.demo_layout import demo_layout
from park.store import import_layout
from tests.fixtures.mqtt import wait_until
from tests.fixtures.park import carrier, vehicle, write_registry
from tests.test_response_card import Park, leak_rule

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


def log_in(page, user) -> None:
    page.goto("/")
    page.wait_for_url(lambda url: "/login?next=" in url)
    page.fill("#username", user.name)
    page.fill("#password", user.password)
    page.click("#login-button")


def test_an_officer_opens_a_chlorine_leak_s_response_card_and_prints_it(
    page_for, make_user, make_sensor, alerts, pages_server, settings
):
    officer, admin = make_user("officer"), make_user("admin")
    park = Park(settings, make_sensor, f"br{random.randrange(10**6)}")
    import_layout(settings.db_url, demo_layout(park.site), imported_by="tests")  # a map to draw circles on
    park.tankers({"浙B51017": ("UN1017", "液氯", "2.3"), "浙B52077": ("UN1077", "丙烯", "2.1")})
    park.place("浙B51017")
    park.place("浙B52077", north_m=200)
    park.wait_positions()
    with httpx.Client(base_url=pages_server.base_url, headers=admin.bearer(), timeout=30) as api:
        rule_id = api.post("/api/v1/rules", json=leak_rule(park.site)).json()["id"]
    wait_until(lambda: alerts.has_rule(rule_id), 30)

    watched = page_for()
    page = watched.page
    log_in(page, officer)
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    tank = make_sensor("tank_sensor", site=park.site, plate="浙B51017")
    tank.send(tank.reading({"tank_pressure_kpa": 90.0, "tank_temp_c": 15.0, "tank_level_pct": 70.0}))

    alert = page.locator("article.alert", has_text="tank leak")
    expect(alert).to_have_attribute("data-state", "firing", timeout=30_000)
    alert.locator("button.response").click()
    card = alert.locator(".response-card")
    expect(card).to_contain_text("UN1017 液氯")
    expect(card).to_contain_text("124 · GASES - TOXIC AND/OR CORROSIVE - OXIDIZING")
    expect(card.locator("table.inside")).to_contain_text("浙B52077")
    expect(card.locator("dd.iso")).to_have_text("60 m")
    night = card.get_attribute("data-night") == "true"
    expect(card.locator("dd.protect")).to_have_text("1100 m" if night else "300 m")
    watched.screenshot("response-card-dashboard")
    alert_id = alert.get_attribute("data-alert")
    circles = (
        "(id) => [...window.hazgate.map.overlays.values()].filter((o) => o.id.startsWith(id)).map((o) => o.radiusM)"
    )
    assert sorted(page.evaluate(circles, alert_id)) == ([60, 1100] if night else [60, 300]), "isolation and protection"
    assert page.evaluate("() => window.hazgate.map.layout.site") == park.site

    card.get_by_role("button", name="大量泄漏").click()
    expect(alert.locator(".response-card dd.iso")).to_have_text("600 m")  # Table 3, highway tank truck

    printable = page_for(width=900, height=1200)
    log_in(printable.page, officer)
    expect(printable.page.locator("#live-state")).to_have_attribute("data-state", "live")
    printable.page.goto(f"/response/{alert_id}")
    expect(printable.page.locator(".response-card")).to_contain_text("急救")
    expect(printable.page.locator("#alert-line")).to_contain_text("tank leak")
    printable.page.emulate_media(media="print")
    expect(printable.page.locator("header.top")).to_be_hidden()
    printable.screenshot("response-card-print")
    with httpx.Client(base_url=pages_server.base_url, headers=admin.bearer(), timeout=30) as api:
        api.delete(f"/api/v1/rules/{rule_id}")
    assert watched.errors == [] and printable.errors == []


def test_the_dashboard_ranks_this_month_s_carriers_and_blacklists_a_red_one(
    page_for, make_user, make_sensor, settings, pages_server
):
    officer = make_user("officer")
    site = f"rk{uuid.uuid4().hex[:6]}"
    plate = f"浙B{random.randrange(60000, 69999)}"
    cid = f"C-{site}"
    write_registry(settings.db_url, {"carriers": [carrier(cid, "红色承运")], "vehicles": [vehicle(plate, cid)]})
    make_sensor("gps_tracker", site=site, plate=plate)  # the site appears on the dashboard
    expired = [
        "vehicle_license_expired",
        "transport_permit_expired",
        "vehicle_inspection_expired",
        "tank_inspection_expired",
        "carrier_permit_expired",
        "waybill_expired",
        "qualification_expired",
    ]
    checks = [
        {
            "code": "vehicle_documents",
            "status": "fail",
            "reasons": [{"code": c, "status": "fail", "message": c, "message_zh": c} for c in expired],
            "evidence": {},
            "missing_inputs": [],
        }
    ]
    with psycopg.connect(settings.db_url) as conn:
        conn.execute(
            "INSERT INTO inspections (id, site, gate_id, plate, opened_at, updated_at, result, checks, missing, inputs)"
            " VALUES (%s, %s, 'g1', %s, %s, %s, 'fail', %s, '[]', '{}')",
            (str(uuid.uuid4()), site, plate, datetime.now(UTC), datetime.now(UTC), psycopg.types.json.Jsonb(checks)),
        )

    watched = page_for()
    page = watched.page
    log_in(page, officer)
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    page.select_option("#index-site", site)
    row = page.locator(f'#index-rows tr[data-subject="{cid}"]')
    expect(row).to_contain_text("65")  # 7 expired documents x 5 points
    expect(row.locator(".grade")).to_have_text("红")
    row.locator("input.reason").fill("本月证件过期7项")
    row.get_by_role("button", name="加入黑名单").click()
    expect(row.get_by_role("button", name="加入黑名单")).to_have_count(0)
    expect(row.locator("td").last).to_contain_text("黑名单")
    watched.screenshot("risk-index-dashboard")
    with httpx.Client(base_url=pages_server.base_url, headers=make_user("admin").bearer()) as api:
        listed = api.get("/api/v1/blacklist", params={"subject_kind": "carrier", "subject_id": cid}).json()
    assert [(x["reason"], x["created_by"]) for x in listed] == [("本月证件过期7项", officer.name)]
    assert watched.errors == []
