"""The park map in a real browser: the officer sees a tanker move on the map, with its plate,
cargo and the zone it is in, and the tank farm turn red when the tanker stops there."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hazgate.simulate.demo_layout import demo_layout
from park.geometry import LocalFrame
from park.store import import_layout
from tests.fixtures.browser import connected
from tests.fixtures.mqtt import wait_until

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

FRAME = LocalFrame(121.712, 29.958)


def position(x: float, y: float, kmh: float) -> dict[str, float]:
    lon, lat = FRAME.to_lonlat(x, y)
    return {"lat": round(lat, 7), "lon": round(lon, 7), "speed_kmh": kmh}


def test_the_officer_sees_a_tanker_move_on_the_park_map_and_the_tank_farm_alert(
    page_for, make_user, make_device, alerts, pages_server, settings
):
    site = f"park{uuid.uuid4().hex[:6]}"
    import_layout(settings.db_url, demo_layout(site), imported_by="tests")
    plate = f"浙B{uuid.uuid4().int % 90000 + 10000}"
    tracker = make_device("gps_tracker", site=site, plate=plate)
    officer, admin = make_user("officer"), make_user("admin")
    with httpx.Client(base_url=pages_server.base_url, headers=admin.bearer()) as api:
        rule = {"name": "进入禁区", "kind": "zone", "zone_kinds": ["restricted"], "severity": "critical", "site": site}
        created = api.post("/api/v1/rules", json=rule)
        assert created.status_code == 201, created.text
        rule_id = created.json()["id"]
    wait_until(lambda: alerts.has_rule(rule_id), 30)
    alerts.wait_in_force()

    watched = page_for(width=1600, height=1100)
    page = watched.page
    page.goto("/")
    page.fill("#username", officer.name)
    page.fill("#password", officer.password)
    page.click("#login-button")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    page.select_option("#map-site", site)
    expect(page.locator("#map-version")).to_contain_text("1")
    expect(page.locator("#park-map canvas").first).to_be_attached()

    connected(tracker)
    tracker.send(tracker.reading(position(-600, -600, 18)))  # on the entry spur, inside the gate
    row = page.locator(f'tr[data-vehicle="{tracker.device_id}"]')
    expect(row).to_contain_text(plate, timeout=30_000)
    expect(row).to_contain_text("1号门进场道")
    first = wait_until(lambda: page.evaluate(f"window.hazgate.map.pixelOf('{tracker.device_id}')"), 15)
    watched.screenshot("park-map-entered")

    tracker.send(tracker.reading(position(0, -550, 27)))  # along the ring road to the avenue
    expect(row).to_contain_text("环园路", timeout=30_000)

    def moved():
        now = page.evaluate(f"window.hazgate.map.pixelOf('{tracker.device_id}')")
        return now and abs(now[0] - first[0]) > 50 and now[1] < first[1] + 5

    wait_until(moved, 15)
    assert page.url.endswith("/"), "no reload: positions came over the live stream"

    # Into the tank farm and standing there: the zone alert colours the farm and the tanker.
    t0 = datetime.now(UTC)
    tracker.send(tracker.reading(position(-380, 300, 0), t0 + timedelta(seconds=1)))
    expect(page.locator("#park-map")).to_have_attribute("data-alert-zones", "tank-farm", timeout=30_000)
    expect(row).to_have_class("pickable alerting")
    expect(row).to_contain_text("罐区")
    alert = page.locator("article.alert", has_text="进入禁区")
    expect(alert).to_contain_text(plate)
    watched.screenshot("park-map-alert")

    page.click("#lang-toggle")
    expect(page.locator("#map-h")).to_have_text("Park situation")
    watched.screenshot("park-map-en")

    # Out again: the alert resolves and the farm is no longer red.
    tracker.send(tracker.reading(position(-380, -20, 12), t0 + timedelta(seconds=2)))
    expect(page.locator("#park-map")).to_have_attribute("data-alert-zones", "", timeout=30_000)
    with httpx.Client(base_url=pages_server.base_url, headers=admin.bearer()) as api:
        api.delete(f"/api/v1/rules/{rule_id}")
    assert watched.errors == []
