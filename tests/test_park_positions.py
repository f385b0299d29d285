"""The park layout and rules on positions for real: a layout imported into the database and
served as GeoJSON, versions kept; tankers' GPS trackers publishing through the broker, judged
against the layout, and alerts carrying the plate and the zone delivered by signed webhook."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hazgate.cli import main as cli
from hazgate.simulate.demo_layout import demo_layout
from park.errors import LayoutRefused
from park.geometry import LocalFrame
from park.store import import_layout
from tests.fixtures.mqtt import wait_until

FRAME = LocalFrame(121.712, 29.958)  # the demo park's centre
ON_RING_ROAD = (200.0, -550.0)
IN_TANK_FARM = (-380.0, 300.0)


def new_site() -> str:
    return f"park{uuid.uuid4().hex[:6]}"


def position(where: tuple[float, float], kmh: float) -> dict[str, float]:
    lon, lat = FRAME.to_lonlat(*where)
    return {"lat": round(lat, 7), "lon": round(lon, 7), "speed_kmh": kmh}


# --- the layout: import, versions, GeoJSON out -------------------------------------------------------


def test_a_layout_import_is_versioned_and_served_as_geojson(settings, api):
    site = new_site()
    first = import_layout(settings.db_url, demo_layout(site), imported_by="tests")
    assert first["sites"][0]["version"] == 1 and first["sites"][0]["by_kind"]["filling_bay"] == 4
    changed = demo_layout(site)
    changed["features"] = [f for f in changed["features"] if f["properties"]["zone_id"] != "bay-a4"]
    second = import_layout(settings.db_url, changed, imported_by="tests")
    assert second["sites"][0]["version"] == 2

    current = api.get(f"/api/v1/sites/{site}/layout")
    assert current.status_code == 200, current.text
    body = current.json()
    assert body["type"] == "FeatureCollection" and body["version"] == 2 and body["imported_by"] == "tests"
    ids = [f["properties"]["zone_id"] for f in body["features"]]
    assert "bay-a4" not in ids and "tank-farm" in ids
    ring = next(f for f in body["features"] if f["properties"]["zone_id"] == "ring-road")
    assert ring["geometry"]["type"] == "LineString" and ring["properties"]["width_m"] == 14

    older = api.get(f"/api/v1/sites/{site}/layout", params={"version": 1}).json()
    assert older["version"] == 1 and "bay-a4" in [f["properties"]["zone_id"] for f in older["features"]]
    missing = api.get(f"/api/v1/sites/{site}-none/layout")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "layout_not_found"
    assert "hazgate park import" in missing.json()["error"]["message"]


def test_a_bad_layout_file_is_refused_whole_told_feature_by_feature_and_recorded(
    settings, api, tmp_path, capsys, monkeypatch
):
    site = new_site()
    doc: dict[str, Any] = demo_layout(site)
    doc["features"][3]["properties"]["kind"] = "car_park"
    doc["features"][5]["geometry"] = {"type": "Point", "coordinates": [121.7, 29.9]}
    path = Path(tmp_path) / "bad.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    monkeypatch.setenv("HAZGATE_DATABASE_URL", settings.db_url)
    with pytest.raises(SystemExit) as exited:
        cli(["park", "import", str(path), "--json"])
    assert exited.value.code == 1
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["error"] == "layout_refused" and "nothing was imported" in out["message"]
    problems = {(p["feature"], p["zone_id"], p["code"]) for p in out["problems"]}
    zone3, zone5 = (doc["features"][i]["properties"]["zone_id"] for i in (3, 5))
    assert problems == {(3, zone3, "unknown_kind"), (5, zone5, "bad_geometry_type")}

    assert api.get(f"/api/v1/sites/{site}/layout").status_code == 404
    rejected = api.get("/api/v1/rejected", params={"reason": "invalid_layout"}).json()
    assert any("unknown_kind" in r["detail"] and "bad.geojson" in (r.get("topic") or "") for r in rejected)
    with pytest.raises(LayoutRefused):
        import_layout(settings.db_url, {"type": "FeatureCollection", "features": []}, imported_by="tests")

    # The same file, fixed, goes in through the same command.
    doc["features"][3]["properties"]["kind"] = "road"
    doc["features"][5] = demo_layout(site)["features"][5]
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert cli(["park", "import", str(path), "--json"]) == 0
    imported = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert imported["sites"][0]["site"] == site and imported["sites"][0]["version"] == 1


# --- rules on positions on the live stream ---------------------------------------------------------------


@pytest.fixture
def park_site(settings) -> str:
    site = new_site()
    import_layout(settings.db_url, demo_layout(site), imported_by="tests")
    return site


def test_a_speeding_tanker_is_alerted_with_its_plate_and_road(
    alerts, park_site, make_sensor, make_rule, subscribe, webhook, api
):
    plate = f"浙B{uuid.uuid4().int % 90000 + 10000}"
    tracker = make_sensor("gps_tracker", site=park_site, plate=plate)
    make_rule(name="超速", kind="speeding", severity="warning", tolerance_kmh=5, site=park_site)
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=park_site)
    alerts.wait_in_force()

    t0 = datetime.now(UTC) - timedelta(seconds=20)
    for i, kmh in enumerate([26, 29, 48, 52, 27]):
        tracker.send(tracker.reading(position(ON_RING_ROAD, kmh), t0 + timedelta(seconds=i)))
    wait_until(lambda: [d.kind for d in webhook.accepted()] == ["firing", "resolved"], 30)
    firing = webhook.accepted()[0]
    assert firing.signature_ok
    body = firing.body
    assert body["rule_kind"] == "speeding" and body["device_id"] == tracker.device_id
    assert body["plate"] == plate and body["zone_id"] == "ring-road"
    assert body["metric"] == "speed_kmh" and body["value"] in (48, 52)
    assert body["details"]["speed_limit_kmh"] == 30 and body["details"]["zone_name"] == "环园路"

    stored = api.get(f"/api/v1/alerts/{firing.alert_id}").json()
    assert stored["plate"] == plate and stored["zone_id"] == "ring-road" and stored["state"] == "resolved"
    assert stored["value"] == 52  # the top speed


def test_a_tanker_stopping_in_the_tank_farm_is_alerted_for_the_zone_and_the_stop(
    alerts, park_site, make_sensor, make_rule, subscribe, webhook, api
):
    plate = f"苏E{uuid.uuid4().int % 90000 + 10000}"
    tracker = make_sensor("gps_tracker", site=park_site, plate=plate)
    zone_rule = make_rule(name="进入禁区", kind="zone", zone_kinds=["restricted"], severity="critical", site=park_site)
    stop_rule = make_rule(name="禁区停车", kind="stop", severity="critical", site=park_site)
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=park_site)
    alerts.wait_in_force()

    # Drives in off the ring road, then stands in the tank farm for 80 s (its limit is 60 s).
    t0 = datetime.now(UTC) - timedelta(seconds=120)
    tracker.send(tracker.reading(position((-380, -20), 15), t0))
    for s in range(10, 100, 10):
        tracker.send(tracker.reading(position(IN_TANK_FARM, 0.4), t0 + timedelta(seconds=s)))

    def firing() -> dict[str, Any]:
        return {d.body["rule_id"]: d.body for d in webhook.accepted() if d.kind == "firing"}

    got = wait_until(lambda: firing() if len(firing()) == 2 else None, 30)
    entered, stopped = got[zone_rule["id"]], got[stop_rule["id"]]
    for body in (entered, stopped):
        assert body["plate"] == plate and body["zone_id"] == "tank-farm" and body["severity"] == "critical"
    assert stopped["details"]["max_stop_s"] == 60 and stopped["value"] > 60
    assert "罐区" in stopped["summary"] and plate in stopped["summary"]

    open_ = api.get("/api/v1/alerts", params={"state": "open", "site": park_site}).json()
    assert {a["rule_kind"] for a in open_} == {"zone", "stop"}
    assert {a["zone_id"] for a in open_} == {"tank-farm"}

    # It drives out: both resolve.
    tracker.send(tracker.reading(position((-380, -20), 12), t0 + timedelta(seconds=105)))
    wait_until(lambda: api.get("/api/v1/alerts", params={"state": "open", "site": park_site}).json() == [], 30)


def test_make_run_imports_the_demo_park_once_and_the_defaults_bring_its_position_rules(settings, api):
    from hazgate.rules import install_default_rules
    from hazgate.simulate.demo_layout import ensure_demo_layout

    site = new_site()
    first = ensure_demo_layout(settings.db_url, site)
    assert "version 1" in first and "imported" in first
    again = ensure_demo_layout(settings.db_url, site)
    assert "version 1" in again and "unchanged" in again
    with psycopg.connect(settings.db_url) as conn:
        install_default_rules(conn, site, created_by="tests")
    rules = [r for r in api.get("/api/v1/rules").json() if r.get("site") == site]
    position = sorted(r["kind"] for r in rules if r["kind"] in ("off_route", "speeding", "stop", "zone"))
    assert position == ["off_route", "speeding", "stop", "zone"]
    for rule in rules:
        api.delete(f"/api/v1/rules/{rule['id']}")
