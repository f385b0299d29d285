"""The stay in a real browser: the officer sees a tanker inside on the dashboard, opens its visit
page, and watches the stay close as it leaves through the exit gate (Chinese first, English switch)."""

from __future__ import annotations

import pytest

from tests.fixtures.mqtt import wait_until

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

ARRIVAL_MS = 90_000


def log_in(page, user) -> None:
    page.goto("/")
    page.wait_for_url(lambda url: "/login?next=" in url)
    page.fill("#username", user.name)
    page.fill("#password", user.password)
    page.click("#login-button")


def test_the_officer_sees_a_tanker_s_visit_close_on_its_page(page_for, make_user, park, crew, register):
    officer = make_user("officer")
    watched = page_for()
    page = watched.page
    log_in(page, officer)
    page.wait_for_url(lambda url: url.endswith("/"))
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")

    register(crew)
    park.entry.arrive(crew, gross_kg=15100.0)
    assert park.entry.kiosk.final_decision(crew.plate, timeout_s=90)["result"] == "pass"
    expect(page.locator("#queue-slot")).to_be_visible()
    expect(page.locator("#queue")).not_to_contain_text("null")
    inside = page.locator(f'#visits-inside [data-plate="{crew.plate}"]')
    expect(inside).to_be_visible(timeout=ARRIVAL_MS)
    inside.locator("a.visit-link").click()
    visit = park.visit(crew.plate, "inside")
    page.wait_for_url(f"**/visits/{visit['id']}")
    expect(page.locator("#visit-state")).to_have_attribute("data-state", "inside")
    expect(page.locator('#timeline [data-kind="entered"]')).to_contain_text("入园")
    expect(page.locator('[data-fact="cargo"]')).to_contain_text("UN1077")

    park.close_waybill(visit["id"], "unloaded")
    assert park.leave(crew, 15050.0)["result"] == "pass"
    expect(page.locator("#visit-state")).to_have_attribute("data-state", "closed", timeout=30_000)
    expect(page.locator("#visit-state")).to_have_text("已离园")
    expect(page.locator('#timeline [data-kind="exited"]')).to_contain_text("出园")
    expect(page.locator('#timeline [data-kind="exit_inspection"] [data-result="pass"]')).to_be_visible()
    assert page.url.endswith(visit["id"]), "no reload: the exit came over the live stream"
    watched.screenshot("visit-closed-zh")

    page.click("#lang-toggle")
    expect(page.locator("#visit-state")).to_have_text("closed")
    expect(page.locator('#timeline [data-kind="exited"]')).to_contain_text("left the park")
    watched.screenshot("visit-closed-en")
    wait_until(lambda: not page.locator("#close-visit").count(), 5)
    assert watched.errors == []
