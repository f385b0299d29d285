"""五必查 at the gate: a tanker arrives, the kiosk says pass or exactly what is wrong, all on record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fixtures.gate import days


def stored_inspection(db, inspection_id: str) -> dict:
    row = db.execute(
        "SELECT result, plate, checks, missing, inputs, latency_ms FROM inspections WHERE id = %s", (inspection_id,)
    ).fetchone()
    assert row is not None, "the inspection is on record"
    return {
        "result": row[0],
        "plate": row[1],
        "checks": row[2],
        "missing": row[3],
        "inputs": row[4],
        "latency_ms": row[5],
    }


def check(decision: dict, code: str) -> dict:
    return next(c for c in decision["checks"] if c["code"] == code)


def reason_codes(decision: dict, code: str) -> list[str]:
    return [r["code"] for r in check(decision, code)["reasons"]]


def test_a_tanker_with_everything_in_order_passes_and_the_barrier_opens(gate, crew, register, db):
    register(crew)
    gate.arrive(crew)
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "pass", decision
    assert {c["code"] for c in decision["checks"]} >= {
        "vehicle_documents",
        "personnel",
        "inspection_validity",
        "waybill_match",
        "permitted_media",
    }
    assert all(c["status"] == "pass" for c in decision["checks"])
    assert decision["latency_ms"] > 0
    assert gate.kiosk.last_barrier(decision["inspection_id"])["command"] == "open"
    record = stored_inspection(db, decision["inspection_id"])
    assert record["result"] == "pass" and record["plate"] == crew.plate and record["missing"] == []
    personnel = next(c for c in record["checks"] if c["code"] == "personnel")
    assert personnel["evidence"], "face distances are kept as evidence"
    assert record["inputs"]["gross_kg"] == 39000.0


def test_the_kiosk_says_what_is_still_missing_while_the_escort_has_not_come(gate, crew, register, db):
    register(crew)
    gate.arrive(crew, with_escort=False)

    def pending_without_escort():
        return next(
            (
                d
                for d in reversed(gate.kiosk.decisions)
                if d["plate"] == crew.plate
                and "escort_id_card" in [m["input"] for m in d["missing"]]
                and not d["comparing_faces"]
            ),
            None,
        )

    from tests.fixtures.mqtt import wait_until

    decision = wait_until(pending_without_escort, 30)
    assert decision["result"] == "pending"
    assert "escort_missing" in reason_codes(decision, "personnel")
    prompts = {m["input"]: m["prompt_zh"] for m in decision["missing"]}
    assert prompts["escort_id_card"] == "请押运员刷身份证"
    assert not gate.kiosk.barrier, "no barrier command while inputs are missing"


SCENARIOS: dict[str, tuple[Any, dict[str, Any], str, str]] = {
    # name: (edit the registry, arrival overrides, check, reason)
    "tank_inspection_expired": (
        lambda c: c.vehicle["tank"].update(inspection_expires=days(-1)),
        {},
        "inspection_validity",
        "tank_inspection_expired",
    ),
    "vehicle_inspection_expired": (
        lambda c: c.vehicle.update(inspection_expires=days(-3)),
        {},
        "inspection_validity",
        "vehicle_inspection_expired",
    ),
    "vehicle_license_expired": (
        lambda c: c.vehicle.update(vehicle_license_expires=days(-1)),
        {},
        "vehicle_documents",
        "vehicle_license_expired",
    ),
    "transport_permit_expired": (
        lambda c: c.vehicle.update(transport_permit_expires=days(-10)),
        {},
        "vehicle_documents",
        "transport_permit_expired",
    ),
    "qualification_expired": (
        lambda c: c.escort.update(qualification_expires=days(-1)),
        {},
        "personnel",
        "qualification_expired",
    ),
    "qualification_wrong_class": ("downgraded", {}, "personnel", "qualification_wrong_class"),
    "face_of_another_person": (
        None,
        {"driver_live": "london_012/london_012_2.jpg"},
        "personnel",
        "face_mismatch",
    ),
    "no_face_in_the_camera": (None, {"driver_live": "noface/noface_4.jpg"}, "personnel", "face_not_found"),
    "two_faces_in_the_camera": (
        None,
        {"driver_live": "multiface/multiface_2.jpg"},
        "personnel",
        "face_quality",
    ),
    "cargo_not_on_the_tanks_list": (
        lambda c: c.vehicle["tank"].update(permitted_un=["UN1978"]),
        {},
        "permitted_media",
        "medium_not_permitted",
    ),
    "waybill_names_another_vehicle": ("other_vehicle", {}, "waybill_match", "waybill_vehicle_mismatch"),
    "waybill_expired": (
        lambda c: c.waybill.update(
            valid_from=(datetime.now(UTC) - timedelta(days=3)).isoformat(),
            valid_to=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
        ),
        {},
        "waybill_match",
        "waybill_expired",
    ),
    "waybill_not_found": (None, {"waybill_no": "WB-NO-SUCH"}, "waybill_match", "waybill_not_found"),
    "over_rated_load": (
        lambda c: c.waybill["cargo"].update(quantity_kg=26500),
        {"gross_kg": 41600.0},
        "permitted_media",
        "over_rated_load",
    ),
    "vehicle_unknown": ("unregistered", {}, "vehicle_documents", "vehicle_unknown"),
}


def register_rows(register, crew, **sections):
    """Import only some rows (as a later registry update would)."""
    from tests.fixtures.gate import Crew

    class Partial(Crew):
        def registry(self):
            return {k: v for k, v in sections.items()}

    partial = Partial(crew.plate, crew.driver_id, crew.escort_id, crew.waybill_no)
    return register(partial)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_tanker_with_one_thing_wrong_is_held_and_the_kiosk_says_why(name, gate, crew, register, db):
    edit, arrival, check_code, reason = SCENARIOS[name]
    if edit == "unregistered":
        # The registry and the waybill know the tanker as 浙B…; the one at the gate bears another plate.
        register(crew)
        crew.plate = f"浙E{crew.plate[-5:]}"
    elif edit == "other_vehicle":
        # The waybill was issued to a sister vehicle of the same carrier.
        sister = {**crew.vehicle, "plate": f"浙D{crew.plate[-5:]}"}
        crew.waybill["plate"] = sister["plate"]
        register_rows(register, crew, carriers=crew.registry()["carriers"], vehicles=[sister])
        register(crew)
    elif edit == "downgraded":
        # After the waybill was issued, the driver's qualification was changed to escort only.
        register(crew)
        register_rows(register, crew, personnel=[{**crew.driver, "qualification_class": "escort", "roles": ["escort"]}])
    else:
        if edit is not None:
            edit(crew)
        register(crew)
    gate.arrive(crew, **arrival)
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "fail", decision
    assert check(decision, check_code)["status"] == "fail"
    assert reason in reason_codes(decision, check_code)
    assert all(r["message_zh"] and r["message"] for c in decision["checks"] for r in c["reasons"])
    assert gate.kiosk.last_barrier(decision["inspection_id"])["command"] == "hold"
    record = stored_inspection(db, decision["inspection_id"])
    assert record["result"] == "fail"
    stored = next(c for c in record["checks"] if c["code"] == check_code)
    assert reason in [r["code"] for r in stored["reasons"]]


def test_a_stranger_carrying_the_escorts_id_card_is_refused(gate, crew, register):
    register(crew)
    gate.arrive(crew, escort_live="london_030/london_030_2.jpg")
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "fail"
    assert "face_mismatch" in reason_codes(decision, "personnel")


def test_a_driver_whose_id_card_is_not_registered_is_refused(gate, crew, register):
    register(crew)
    import random

    from tests.fixtures.gate import new_id_number

    gate.arrive(crew, driver_id=new_id_number(random.Random(7)))
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "fail"
    assert "id_card_not_registered" in reason_codes(decision, "personnel")


def test_redelivered_gate_events_do_not_open_a_second_inspection(gate, crew, register, db):
    register(crew)
    event_id = gate.send("anpr_camera", "plate", plate=crew.plate, confidence=0.97)
    import json

    body = {
        "type": "plate",
        "event_id": event_id,
        "ts": datetime.now(UTC).isoformat(),
        "plate": crew.plate,
        "confidence": 0.97,
    }
    gate.devices["anpr_camera"].publish_raw("event", json.dumps(body, ensure_ascii=False))
    gate.arrive(crew)
    decision = gate.kiosk.final_decision(crew.plate)
    count = db.execute("SELECT count(*) FROM inspections WHERE plate = %s", (crew.plate,)).fetchone()[0]
    assert count == 1 and decision["result"] == "pass"


def test_an_officer_overrides_a_failed_inspection_with_a_reason_and_it_is_audited(
    gate, crew, register, api, db, settings
):
    crew.vehicle["tank"]["inspection_expires"] = days(-1)
    register(crew)
    gate.arrive(crew)
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "fail"
    url = f"/api/v1/inspections/{decision['inspection_id']}"
    assert api.get(url).json()["effective_result"] == "fail"

    too_short = api.post(f"{url}/override", json={"result": "pass", "reason": "ok"})
    assert too_short.status_code == 422 and too_short.json()["error"]["code"] == "invalid_request"

    import psycopg

    from api.auth import add_user

    with psycopg.connect(settings.db_url) as conn:
        kiosk_key = add_user(conn, f"kiosk-{crew.plate}", "kiosk", gate.site, gate.gate_id)["api_key"]
    as_kiosk = api.post(
        f"{url}/override",
        json={"result": "pass", "reason": "the certificate was renewed"},
        headers={"Authorization": f"Bearer {kiosk_key}"},
    )
    assert as_kiosk.status_code == 403

    done = api.post(
        f"{url}/override", json={"result": "pass", "reason": "tank re-inspected today, paper certificate seen"}
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["result"] == "fail" and body["effective_result"] == "pass" and body["override_by"]
    audit = db.execute(
        "SELECT action, detail FROM inspection_audit WHERE inspection_id = %s", (decision["inspection_id"],)
    ).fetchall()
    assert audit[0][0] == "override" and audit[0][1]["to"] == "pass"

    listed = api.get("/api/v1/inspections", params={"plate": crew.plate}).json()
    assert [i["id"] for i in listed] == [decision["inspection_id"]]
    kiosk_list = api.get("/api/v1/inspections", headers={"Authorization": f"Bearer {kiosk_key}"}).json()
    assert {(i["site"], i["gate_id"]) for i in kiosk_list} == {(gate.site, gate.gate_id)}


def test_a_tanker_whose_gps_tracker_went_silent_is_held(gate, crew, register, make_device, db):
    register(crew)
    tracker = make_device("gps_tracker", site=gate.site, plate=crew.plate)
    twenty_minutes_ago = datetime.now(UTC) - timedelta(minutes=20)
    tracker.send(tracker.reading({"lat": 29.95, "lon": 121.71, "speed_kmh": 0.0}, twenty_minutes_ago))
    from tests.fixtures.mqtt import wait_until

    wait_until(
        lambda: db.execute("SELECT last_seen_at FROM devices WHERE device_id = %s", (tracker.device_id,)).fetchone()[0]
    )
    gate.arrive(crew)
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "fail"
    assert "gps_silent" in reason_codes(decision, "vehicle_status")
