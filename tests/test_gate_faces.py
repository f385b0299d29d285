"""Faces at a real gate: ID-card chip photos, kiosk frames, someone standing behind the driver."""

from __future__ import annotations

import base64

from tests.fixtures.gate import DRIVER, ESCORT
from tests.photos import id_chip, kiosk_burst, kiosk_frame, side_by_side, with_someone_at_the_edge, with_someone_behind


def personnel(decision):
    return next(c for c in decision["checks"] if c["code"] == "personnel")


def stored_face(db, inspection_id: str, role: str) -> dict:
    checks = db.execute("SELECT checks FROM inspections WHERE id = %s", (inspection_id,)).fetchone()[0]
    check = next(c for c in checks if c["code"] == "personnel")
    return check["evidence"][role]["face"]


def test_chip_photos_and_kiosk_frames_of_the_right_people_pass(gate, crew, register, db):
    register(crew)
    gate.arrive(
        crew,
        driver_card=id_chip(f"{DRIVER}/{DRIVER}_1.jpg", quality=40),
        driver_live=kiosk_frame(f"{DRIVER}/{DRIVER}_2.jpg"),
        escort_live=kiosk_frame(f"{ESCORT}/{ESCORT}_2.jpg", face_px=160),
    )
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "pass", personnel(decision)
    face = stored_face(db, decision["inspection_id"], "driver")
    assert face["distance_to_id_photo"] <= face["threshold"]
    assert (face["faces"], face["dominant"]) == (1, False)


def test_a_colleague_behind_the_driver_does_not_stop_him_and_the_record_says_so(gate, crew, register, db):
    register(crew)
    crowded = with_someone_behind(f"{DRIVER}/{DRIVER}_2.jpg", "london_030/london_030_1.jpg", scale=0.55)
    gate.arrive(crew, driver_live=crowded)
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "pass", personnel(decision)
    face = stored_face(db, decision["inspection_id"], "driver")
    assert (face["faces"], face["dominant"], face["dominant_by"]) == (2, True, "size")


def test_two_people_equally_close_to_the_camera_are_asked_to_come_one_at_a_time(gate, crew, register):
    register(crew)
    gate.arrive(crew, driver_live=side_by_side(f"{DRIVER}/{DRIVER}_2.jpg", "london_030/london_030_1.jpg"))
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "fail"
    reasons = personnel(decision)["reasons"]
    assert "face_quality" in [r["code"] for r in reasons]
    assert any("multiple faces" in r["message"] for r in reasons)


def test_a_burst_from_the_face_camera_is_matched_and_shown_alive(gate, crew, register, db):
    register(crew)
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    frames = [b64(f) for f in kiosk_burst(f"{DRIVER}/{DRIVER}_2.jpg", frames=6)]
    gate.send("anpr_camera", "plate", plate=crew.plate, confidence=0.98)
    driver_chip = b64(id_chip(f"{DRIVER}/{DRIVER}_1.jpg"))
    gate.send("id_reader", "id_card", role="driver", id_number=crew.driver_id, name="王师傅", photo_b64=driver_chip)
    gate.send("face_camera", "face", role="driver", frames_b64=frames)
    escort_chip = b64(id_chip(f"{ESCORT}/{ESCORT}_1.jpg"))
    gate.send("id_reader", "id_card", role="escort", id_number=crew.escort_id, name="李押运", photo_b64=escort_chip)
    gate.send("face_camera", "face", role="escort", image_b64=b64(kiosk_frame(f"{ESCORT}/{ESCORT}_2.jpg")))
    gate.send("weighbridge", "weight", gross_kg=39000.0)
    gate.send("waybill_scanner", "waybill", waybill_no=crew.waybill_no)
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "pass", personnel(decision)
    face = stored_face(db, decision["inspection_id"], "driver")
    # The burst's middle frame is matched (burst_frames is 1 by default), the burst judged alive.
    assert (face["frames"], face["liveness"]) == (1, True)
    assert face["distance_to_id_photo"] <= face["threshold"]


def test_a_bigger_face_passing_at_the_edge_does_not_stop_the_driver_and_the_record_says_why(gate, crew, register, db):
    register(crew)
    passing = with_someone_at_the_edge(f"{DRIVER}/{DRIVER}_2.jpg", "london_030/london_030_1.jpg", scale=1.3)
    gate.arrive(crew, driver_live=passing)
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "pass", personnel(decision)
    face = stored_face(db, decision["inspection_id"], "driver")
    assert (face["faces"], face["dominant"], face["dominant_by"]) == (2, True, "position")
