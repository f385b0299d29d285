"""A carrier sends the park its registry: 30 people, a few with poor photos, a few rows wrong.

The sound rows are imported, the weak photos flagged (the person is imported; the gate falls back
to the ID-card photo), the malformed rows refused each with its reason; ``--strict`` refuses the
whole file. At the gate, a flagged driver is checked against the ID card and sent to an officer.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from hazgate.cli import main
from hazgate.data import faces_dir
from tests.fixtures.gate import days, new_id_number, new_plate

FACES = faces_dir()
LONDON = sorted(d.name for d in FACES.iterdir() if d.name.startswith("london_"))


def _jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return data.tobytes()


def _read(photo: Path) -> np.ndarray:
    image = cv2.imread(str(photo))
    assert image is not None, photo
    return image


def blurred_beyond_recognition(photo: Path) -> bytes:
    """A scan so out of focus that no face is left in it."""
    return _jpeg(cv2.GaussianBlur(_read(photo), (101, 101), 0))


def thumbnail(photo: Path, px: int = 32) -> bytes:
    """A photo sent as a tiny thumbnail: the face is a few pixels."""
    return _jpeg(cv2.resize(_read(photo), (px, px), interpolation=cv2.INTER_AREA))


def person(id_number: str, role: str, name: str, photo: str) -> dict[str, Any]:
    return {
        "id_number": id_number,
        "name": name,
        "roles": [role],
        "qualification_no": f"Q-{id_number[-6:]}",
        "qualification_class": role,
        "qualification_expires": days(300),
        "photo": photo,
    }


class CarrierFile:
    """A registry file of 15 tankers and their 30 crew, photos in ``photos/`` beside it, plus
    people whose photos are weak and rows that are malformed."""

    def __init__(self, folder: Path, rng: random.Random) -> None:
        self.folder = folder
        (folder / "photos").mkdir()
        now = datetime.now(UTC)
        carrier = {
            "id": f"C-{uuid.uuid4().hex[:6]}",
            "name": "甬江危化运输",
            "permit_no": "浙交运009",
            "permit_expires": days(400),
        }
        self.doc: dict[str, Any] = {"carriers": [carrier], "vehicles": [], "personnel": [], "waybills": []}
        for t in range(15):
            plate = new_plate(rng)
            crew = []
            for k, role in enumerate(("driver", "escort")):
                n = 2 * t + k
                who = LONDON[n % len(LONDON)]
                photo = FACES / who / f"{who}_{1 + n // len(LONDON)}.jpg"
                shutil.copy(photo, folder / "photos" / f"p{n:02d}.jpg")
                crew.append(person(new_id_number(rng), role, f"{role}{n}", f"photos/p{n:02d}.jpg"))
            self.doc["personnel"] += crew
            self.doc["vehicles"].append(
                {
                    "plate": plate,
                    "carrier_id": carrier["id"],
                    "vehicle_license_expires": days(300),
                    "transport_permit_no": f"3302{t:08d}",
                    "transport_permit_expires": days(300),
                    "inspection_expires": days(300),
                    "rated_load_kg": 25000,
                    "tare_kg": 15000,
                    "tank": {
                        "id": f"TK-{plate}",
                        "capacity_m3": 52.6,
                        "inspection_expires": days(300),
                        "permitted_un": ["UN1077"],
                    },
                }
            )
            self.doc["waybills"].append(
                {
                    "waybill_no": f"WB-{uuid.uuid4().hex[:10]}",
                    "plate": plate,
                    "driver_id": crew[0]["id_number"],
                    "escort_id": crew[1]["id_number"],
                    "cargo": {"un": "UN1077", "name": "丙烯", "class": "2.1", "quantity_kg": 24000},
                    "valid_from": (now - timedelta(hours=1)).isoformat(),
                    "valid_to": (now + timedelta(days=1)).isoformat(),
                }
            )
        people = self.doc["personnel"]
        # Weak photos: each person is still imported, flagged.
        (folder / "photos" / "p03.jpg").write_bytes(blurred_beyond_recognition(folder / "photos" / "p03.jpg"))
        people[7]["photo"] = base64.b64encode(thumbnail(folder / "photos" / "p07.jpg")).decode()
        shutil.copy(FACES / "noface" / "noface_2.jpg", folder / "photos" / "p11.jpg")  # a road, not a face
        self.flagged = {people[i]["id_number"]: i for i in (3, 7, 11)}
        # Malformed rows: each refused with its reason, the rest of the file imported.
        bad_id = new_id_number(rng)
        bad_id = bad_id[:17] + ("0" if bad_id[17] != "0" else "1")
        missing = person(new_id_number(rng), "escort", "缺字段", "photos/p00.jpg")
        del missing["qualification_expires"]
        self.malformed = {
            30: ("id_number", "check character"),
            31: ("qualification_expires", "required field is missing"),
            32: ("photo", "no file"),
            33: ("photo", "neither a file next to the import file nor base64"),
        }
        people += [
            person(bad_id, "driver", "错号", "photos/p00.jpg"),
            missing,
            person(new_id_number(rng), "escort", "缺照片", "photos/not_sent.jpg"),
            person(new_id_number(rng), "escort", "坏编码", "data:image/jpeg;base64,@@not base64@@"),
        ]
        self.path = folder / "registry.json"
        self.path.write_text(json.dumps(self.doc, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def carrier_file(tmp_path: Path) -> CarrierFile:
    return CarrierFile(tmp_path, random.Random(uuid.uuid4().int))


@pytest.fixture
def cli(settings, monkeypatch, capsys):
    """``hazgate ...`` in this process, against the session database: (exit status, stdout)."""
    monkeypatch.setenv("HAZGATE_DATABASE_URL", settings.db_url)

    def run(*argv: str) -> tuple[int, str]:
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, capsys.readouterr().out

    return run


def test_one_weak_photo_does_not_refuse_the_registry_the_person_is_imported_and_flagged(carrier_file, cli, db):
    people = carrier_file.doc["personnel"]

    code, out = cli("registry", "import", str(carrier_file.path), "--strict", "--json")
    assert code == 1
    refused = json.loads(out.strip().splitlines()[-1])
    assert refused["error"] == "import_refused"
    assert {p["index"] for p in refused["problems"] if p["severity"] == "error"} == {30, 31}
    ids = [p["id_number"] for p in people[:30]]
    assert db.execute("SELECT count(*) FROM personnel WHERE id_number = ANY(%s)", (ids,)).fetchone() == (0,)

    code, out = cli("registry", "import", str(carrier_file.path), "--json")
    assert code == 2, "imported, but some rows were refused"
    report = json.loads(out.strip().splitlines()[-1])
    assert report["imported"] == {"carriers": 1, "vehicles": 15, "personnel": 30, "waybills": 15}
    assert report["refused"] == {"personnel": 4} and report["flagged"] == {"personnel": 3}
    rows = {(r["section"], r["index"]): r for r in report["rows"]}
    for id_number, index in carrier_file.flagged.items():
        row = rows[("personnel", index)]
        assert row["imported"] and row["key"] == id_number and not row["errors"]
        [flag] = row["flags"]
        assert flag["code"] == "no_usable_photo"
        assert flag["reason"] in {"face_not_found", "face_quality"} and flag["message"]
    for index, (field, why) in carrier_file.malformed.items():
        row = rows[("personnel", index)]
        assert not row["imported"] and not row["flags"]
        assert any(e["field"] == field and why in e["message"] for e in row["errors"]), row["errors"]

    stored = dict(
        db.execute(
            "SELECT id_number, face_encoding IS NOT NULL FROM personnel WHERE id_number = ANY(%s)", (ids,)
        ).fetchall()
    )
    assert len(stored) == 30, "every sound person is in the registry, flagged or not"
    assert {k for k, enrolled in stored.items() if not enrolled} == set(carrier_file.flagged)
    flags = db.execute(
        "SELECT enrolment_flags FROM personnel WHERE id_number = %s", (people[11]["id_number"],)
    ).fetchone()
    assert flags is not None and flags[0][0]["code"] == "no_usable_photo" and flags[0][0]["reason"] == "face_not_found"
    malformed_ids = [people[i]["id_number"] for i in carrier_file.malformed if "id_number" in people[i]]
    assert db.execute("SELECT count(*) FROM personnel WHERE id_number = ANY(%s)", (malformed_ids,)).fetchone() == (0,)


def test_a_registry_sent_again_analyses_only_the_photos_that_changed(carrier_file, settings, monkeypatch, capsys, db):
    monkeypatch.setenv("HAZGATE_DATABASE_URL", settings.db_url)
    people = carrier_file.doc["personnel"]
    with pytest.raises(SystemExit) as imported:  # 2: imported, some rows refused
        main(["registry", "import", str(carrier_file.path), "--json"])
    assert imported.value.code == 2
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    # A week later the carrier sends it again: one driver has a new photo, nothing else changed.
    photos = carrier_file.path.parent / "photos"
    image = cv2.imread(str(photos / "p05.jpg"))
    assert image is not None
    cv2.imwrite(str(photos / "p05.jpg"), cv2.flip(image, 1))
    before = dict(
        db.execute(
            "SELECT id_number, face_encoding FROM personnel WHERE id_number = ANY(%s)",
            ([p["id_number"] for p in people[:30]],),
        ).fetchall()
    )
    with pytest.raises(SystemExit) as imported:
        main(["registry", "import", str(carrier_file.path), "--json"])
    assert imported.value.code == 2
    captured = capsys.readouterr()
    again = json.loads(captured.out.strip().splitlines()[-1])
    assert "[registry] 1 photo(s) analysed, 29 unchanged since enrolled" in captured.err
    # The same report: the flags of the weak photos come with the stored analysis.
    assert again["flagged"] == first["flagged"] == {"personnel": 3}
    assert again["imported"] == first["imported"]
    after = dict(
        db.execute(
            "SELECT id_number, face_encoding FROM personnel WHERE id_number = ANY(%s)",
            ([p["id_number"] for p in people[:30]],),
        ).fetchall()
    )
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {people[5]["id_number"]}, "the new photo's encoding, and only that one, is new"


def test_the_import_report_lists_every_flag_and_refusal_per_row_for_a_person_to_read(carrier_file, cli):
    code, out = cli("registry", "import", str(carrier_file.path))
    assert code == 2
    assert "30 personnel" in out and "4 row(s) refused, 3 flagged" in out
    for index in carrier_file.flagged.values():
        block = out.split(f"personnel[{index}] (")[1].split("\n", 2)
        assert block[0].endswith("imported") and block[1].strip().startswith("flag no_usable_photo (")
    for index, (field, why) in carrier_file.malformed.items():
        block = out.split(f"personnel[{index}] (")[1].split("\n", 2)
        assert block[0].endswith("REFUSED") and f"error {field}: " in block[1] and why in block[1]


def test_a_waybill_naming_a_refused_person_is_refused_too_and_the_rest_imported(carrier_file, cli, db):
    people, waybills = carrier_file.doc["personnel"], carrier_file.doc["waybills"]
    people[4]["qualification_expires"] = "2027-13-01"
    carrier_file.path.write_text(json.dumps(carrier_file.doc, ensure_ascii=False), encoding="utf-8")
    code, out = cli("registry", "import", str(carrier_file.path), "--json")
    assert code == 2
    report = json.loads(out.strip().splitlines()[-1])
    assert report["imported"]["personnel"] == 29 and report["imported"]["waybills"] == 14
    row = next(r for r in report["rows"] if r["section"] == "waybills" and r["index"] == 2)
    assert not row["imported"] and "personnel[4]" in row["errors"][0]["message"]
    assert db.execute(
        "SELECT count(*) FROM waybills WHERE waybill_no = %s", (waybills[2]["waybill_no"],)
    ).fetchone() == (0,)


def test_a_driver_whose_enrolment_photo_was_unusable_is_checked_against_the_id_card_and_sent_to_an_officer(
    gate, crew, register, db
):
    crew.driver["photo"] = base64.b64encode((FACES / "noface" / "noface_3.jpg").read_bytes()).decode()
    report = register(crew)
    assert [f.flag.code.value for f in report.flags] == ["no_usable_photo"]
    gate.arrive(crew)
    # Generous: as the session's first gate story it may wait for the face workers to load.
    decision = gate.kiosk.final_decision(crew.plate, timeout_s=90)
    assert decision["result"] == "review", decision
    personnel = next(c for c in decision["checks"] if c["code"] == "personnel")
    assert [r["code"] for r in personnel["reasons"]] == ["enrolled_photo_unusable"]
    assert "face_not_found" in personnel["reasons"][0]["message"]
    row = db.execute("SELECT checks FROM inspections WHERE id = %s", (decision["inspection_id"],)).fetchone()
    assert row is not None
    evidence = next(c for c in row[0] if c["code"] == "personnel")["evidence"]["driver"]["face"]
    assert evidence["distance_to_id_photo"] <= evidence["threshold"], "the live face matched the ID card"
    assert evidence["enrolled_photo"] == {
        "usable": False,
        "fallback": "id_card_photo",
        "policy": "review",
        "flags": [report.flags[0].flag.model_dump(mode="json")],
    }
