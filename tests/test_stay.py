"""A tanker's whole stay, through the real broker and database: booked, queued in the waiting lot,
called, let in, driving and filling inside, weighed out at the exit; and what goes wrong on the way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from hazgate.simulate.demo_layout import demo_layout
from park.store import import_layout
from stays import store
from tests.fixtures.gate import days
from tests.fixtures.mqtt import wait_until

EMPTY_KG = 15000.0  # the test tanker's tare
LOADED_KG = 15000.0 + 24000.0  # tare + the waybill's 24 t of propylene


def check_of(decision, code):
    return next(c for c in decision["checks"] if c["code"] == code)


def kinds(visit):
    return [entry["kind"] for entry in visit["timeline"]]


def test_a_booked_tanker_whose_tank_inspection_expires_before_its_slot_is_told_at_booking(park, crew, register):
    crew.vehicle["tank"]["inspection_expires"] = days(2)
    register(crew)
    booking = park.book(crew, start=datetime.now(UTC) + timedelta(days=3), hours=4)
    assert booking["state"] == "requested"
    assert booking["precheck"]["result"] == "fail"
    validity = check_of(booking["precheck"], "inspection_validity")
    reason = next(r for r in validity["reasons"] if r["code"] == "tank_inspection_expired")
    assert reason["message_zh"] and reason["message"]
    # Faces and the weighbridge are for the gate: the pre-check does not wait for them.
    assert all(c["status"] != "pending" for c in booking["precheck"]["checks"])
    listed = park.api.get("/api/v1/bookings", params={"site": park.site, "state": "requested"}).json()
    assert [b["id"] for b in listed] == [booking["id"]]


def bay_centre(site: str, zone_id: str) -> tuple[float, float]:
    """(lat, lon) of a zone of the demo park's layout: the mean of its outline's corners."""
    ring = next(f for f in demo_layout(site)["features"] if f["properties"]["zone_id"] == zone_id)["geometry"]
    corners = ring["coordinates"][0][:-1]
    return sum(p[1] for p in corners) / len(corners), sum(p[0] for p in corners) / len(corners)


def test_a_whole_clean_stay_from_booking_to_exit_ends_closed_with_its_timeline(
    park, crew, register, make_device, settings
):
    import_layout(settings.db_url, demo_layout(park.site), imported_by="tests")
    register(crew)
    tracker = make_device("gps_tracker", site=park.site, plate=crew.plate)
    booking = park.approve(park.book(crew))
    assert booking["state"] == "approved" and booking["precheck"]["result"] == "pass"

    # At the waiting lot: the lot's camera reads the plate, the stay begins, queued.
    park.arrive_at_lot(crew)
    queued = park.visit(crew.plate, "queued")
    assert queued["booking_id"] == booking["id"] and queued["lot_id"] == park.lot_id
    queue = park.api.get("/api/v1/queue", params={"site": park.site}).json()
    assert [w["plate"] for w in queue["waiting"]] == [crew.plate] and queue["waiting"][0]["eligible"]
    called = park.api.post("/api/v1/queue/call", json={"site": park.site, "gate_id": park.entry.gate_id})
    assert called.status_code == 200, called.text
    assert called.json()["plate"] == crew.plate

    # Through the entry gate (the tracker has reported from the lot, so it is not silent).
    tracker.send(tracker.reading({"lat": 29.9401, "lon": 121.7102, "speed_kmh": 0.0}))
    wait_until(lambda: park.full_visit(queued["id"])["position"], 20)
    park.entry.arrive(crew, gross_kg=EMPTY_KG + 100)
    entry = park.entry.kiosk.final_decision(crew.plate, timeout_s=60)
    assert entry["result"] == "pass", entry
    assert entry["direction"] == "entry" and entry["visit_id"] == queued["id"]
    assert park.entry.kiosk.last_barrier(entry["inspection_id"])["command"] == "open"
    inside = park.visit(crew.plate, "inside")
    assert inside["id"] == queued["id"] and inside["entry_inspection_id"] == entry["inspection_id"]
    assert park.api.get(f"/api/v1/bookings/{booking['id']}").json()["state"] == "used"

    # Inside: it drives to the filling bay, is filled, the enterprise confirms the loading.
    bay = bay_centre(park.site, "bay-a2")
    for lat, lon, kmh in ((29.9405, 121.7110, 18.0), (29.9411, 121.7121, 22.0), (*bay, 0.0)):
        tracker.send(tracker.reading({"lat": lat, "lon": lon, "speed_kmh": kmh}))
    at_bay = wait_until(lambda: (park.full_visit(inside["id"])["position"] or {}).get("lat") == bay[0], 20)
    assert park.full_visit(inside["id"])["position"]["zone_id"] == "bay-a2", at_bay
    # On the map: the tanker with its stay, the cargo it entered with, and since when it is inside.
    on_map = {v["plate"]: v for v in park.api.get(f"/api/v1/sites/{park.site}/vehicles").json()}[crew.plate]
    assert on_map["visit_id"] == inside["id"] and on_map["visit_state"] == "inside"
    assert on_map["cargo"]["un"] == "UN1077" and on_map["entered_at"] == inside["entered_at"]
    filled = park.close_waybill(inside["id"], "loaded")
    assert filled["waybill_closed_at"] and filled["cargo"]["un"] == "UN1077"

    # Out through the exit gate, loaded as the waybill says.
    leaving = park.leave(crew, LOADED_KG)
    assert leaving["result"] == "pass", leaving
    assert leaving["direction"] == "exit"
    assert {c["code"] for c in leaving["checks"]} == {"visit_found", "load_within_limits", "waybill_closed"}
    assert park.exit.kiosk.last_barrier(leaving["inspection_id"])["command"] == "open"
    closed = park.full_visit(park.visit(crew.plate, "closed")["id"])
    assert closed["id"] == queued["id"] and closed["close_reason"] == "exit"
    assert closed["exit_inspection_id"] == leaving["inspection_id"] and closed["exited_at"]
    assert closed["cargo"] == {"un": "UN1077", "name": "丙烯", "quantity_kg": 24000.0}
    assert closed["position"]["device_id"] == tracker.device_id
    timeline = kinds(closed)
    for kind in (
        "booked",
        "approved",
        "queued",
        "called",
        "entry_inspection",
        "entered",
        "waybill_closed",
        "exit_inspection",
        "exited",
    ):
        assert kind in timeline, timeline
    assert timeline.index("queued") < timeline.index("entered") < timeline.index("exited")


def test_an_overweight_tanker_is_held_at_the_exit_with_load_within_limits_failing(park, crew, register):
    register(crew)
    park.entry.arrive(crew, gross_kg=EMPTY_KG + 100)
    assert park.entry.kiosk.final_decision(crew.plate, timeout_s=60)["result"] == "pass"
    visit = park.visit(crew.plate, "inside")
    park.close_waybill(visit["id"])

    leaving = park.leave(crew, EMPTY_KG + 27000)  # 27 t net: over the 25 t rated load and the 24 t waybill
    assert leaving["result"] == "fail", leaving
    load = check_of(leaving, "load_within_limits")
    assert load["status"] == "fail"
    assert {"over_rated_load", "load_above_waybill"} <= {r["code"] for r in load["reasons"]}
    assert park.exit.kiosk.last_barrier(leaving["inspection_id"])["command"] == "hold"
    still = park.full_visit(visit["id"])
    assert still["state"] == "inside" and "exit_inspection" in kinds(still)


def test_an_overstay_fires_and_resolves_when_the_tanker_leaves(park, crew, register, gateway, alerts, make_rule, api):
    # The entry and the exit reach alert evaluation as alert inputs stored with the decision and
    # with the stay's end (stays/departures.py): nothing to wire in the gateway.
    rule = make_rule(name="超时停留", kind="dwell", max_hours=0.001, site=park.site, severity="warning")
    alerts.wait_in_force()
    register(crew)
    park.entry.arrive(crew, gross_kg=EMPTY_KG + 100)
    assert park.entry.kiosk.final_decision(crew.plate, timeout_s=60)["result"] == "pass"
    visit = park.visit(crew.plate, "inside")

    def alert(state):
        listed = api.get("/api/v1/alerts", params={"state": state}).json()
        return next((a for a in listed if a["rule_id"] == rule["id"] and crew.plate in str(a)), None)

    firing = wait_until(lambda: alert("firing"), 30)  # 3.6 s allowed inside
    park.close_waybill(visit["id"], "unloaded")
    assert park.leave(crew, EMPTY_KG + 50)["result"] == "pass"
    resolved = wait_until(lambda: alert("resolved"), 30)
    assert resolved["alert_id"] == firing["alert_id"]
    assert resolved["resolve_reason"] in ("vehicle_left", None) or resolved["state"] == "resolved"
    closed = park.full_visit(visit["id"])
    assert closed["state"] == "closed"
    assert "alert" in kinds(closed) and "alert_resolved" in kinds(closed)


def test_a_blacklisted_driver_is_refused_at_booking_and_at_the_gate(park, crew, register, api):
    register(crew)
    until = datetime.now(UTC) + timedelta(days=90)
    listed = api.post(
        "/api/v1/blacklist",
        json={
            "subject_kind": "person",
            "subject_id": crew.driver_id,
            "reason": "园内超速三次",
            "until": until.isoformat(),
        },
    )
    assert listed.status_code == 201, listed.text

    booking = park.book(crew)
    assert booking["precheck"]["result"] == "fail"
    listed = check_of(booking["precheck"], "blacklist")
    assert listed["status"] == "fail" and [r["code"] for r in listed["reasons"]] == ["blacklisted"]
    assert "园内超速三次" in listed["reasons"][0]["message_zh"]

    park.entry.arrive(crew)
    decision = park.entry.kiosk.final_decision(crew.plate, timeout_s=60)
    assert decision["result"] == "fail"
    assert [r["code"] for r in check_of(decision, "blacklist")["reasons"]] == ["blacklisted"]
    assert park.entry.kiosk.last_barrier(decision["inspection_id"])["command"] == "hold"


def test_the_stay_reads_the_blacklist_through_its_one_lookup_which_can_be_swapped(park, crew, register, blacklist):
    """The lookup is one function (stays/blacklist.py): here a table of the test's own stands in."""
    register(crew)
    blacklist.add("vehicle", crew.plate, "多次违规停车", datetime.now(UTC) + timedelta(days=30))
    booking = park.book(crew)
    assert [r["code"] for r in check_of(booking["precheck"], "blacklist")["reasons"]] == ["blacklisted"]


def test_where_bookings_are_required_a_tanker_without_one_is_refused_at_the_lot_and_the_gate(
    park, crew, register, settings, api
):
    with psycopg.connect(settings.db_url) as conn:
        store.set_site(conn, park.site, True)
    register(crew)
    park.arrive_at_lot(crew)
    refused = wait_until(
        lambda: [
            r
            for r in api.get("/api/v1/rejected", params={"reason": "booking_missing"}).json()
            if crew.plate in r["detail"]
        ],
        20,
    )
    assert refused[0]["device_id"] == park.lot_camera.device_id
    park.entry.arrive(crew)
    decision = park.entry.kiosk.final_decision(crew.plate, timeout_s=60)
    assert decision["result"] == "fail"
    assert [r["code"] for r in check_of(decision, "booking")["reasons"]] == ["booking_missing"]


def test_a_full_waiting_lot_refuses_the_next_tanker_and_says_why(park, settings, api):
    with psycopg.connect(settings.db_url) as conn:
        store.set_lot(conn, park.site, park.lot_id, 1)
    first = api.post("/api/v1/queue/arrivals", json={"site": park.site, "lot_id": park.lot_id, "plate": "浙B10001"})
    assert first.status_code == 201, first.text
    again = api.post("/api/v1/queue/arrivals", json={"site": park.site, "lot_id": park.lot_id, "plate": "浙B10001"})
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"], "a second read is the same stay"
    full = api.post("/api/v1/queue/arrivals", json={"site": park.site, "lot_id": park.lot_id, "plate": "浙B10002"})
    assert full.status_code == 409 and full.json()["error"]["code"] == "lot_full"
    closed = api.post(f"/api/v1/visits/{first.json()['id']}/close", json={"reason": "司机放弃入园，已离开停车场"})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert closed.json()["timeline"][-1]["detail"]["reason"] == "司机放弃入园，已离开停车场"
