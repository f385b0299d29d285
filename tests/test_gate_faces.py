"""Faces at a real gate: ID-card chip photos, kiosk frames, someone standing behind the driver."""

from __future__ import annotations

from tests.fixtures.gate import DRIVER, ESCORT
from tests.photos import id_chip, kiosk_frame, side_by_side, with_someone_behind


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
    assert (face["faces"], face["dominant"]) == (2, True)


def test_two_people_equally_close_to_the_camera_are_asked_to_come_one_at_a_time(gate, crew, register):
    register(crew)
    gate.arrive(crew, driver_live=side_by_side(f"{DRIVER}/{DRIVER}_2.jpg", "london_030/london_030_1.jpg"))
    decision = gate.kiosk.final_decision(crew.plate)
    assert decision["result"] == "fail"
    reasons = personnel(decision)["reasons"]
    assert "face_quality" in [r["code"] for r in reasons]
    assert any("multiple faces" in r["message"] for r in reasons)
