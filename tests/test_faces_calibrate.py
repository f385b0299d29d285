"""``hazgate faces calibrate`` on a small folder: what docs/faces.md cites must be reproducible.

The full calibration (49 photos, ~2,000 pictures) is a command, not a test; here two people with
two photos each go through one burst scenario and one two-reference scenario, twice: the
second run reads every picture from the cache and gives the same figures.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway.faces import cli as faces_cli
from gateway.faces.calibrate import Scenario, parse_scenarios
from tests.photos import FACES

PEOPLE = ("london_004", "london_005")
SCENARIOS = "id_chip~kiosk:2,id_chip+enrolment_soft~cctv:2"


def _calibrate(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = faces_cli.main(["calibrate", "--quiet", *argv])
    assert code == 0
    return dict(json.loads(capsys.readouterr().out))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("photos")
    for person in PEOPLE:
        shutil.copytree(FACES / person, out / person)
    return out


def test_calibration_is_reproducible_and_the_second_run_comes_from_the_cache(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("--photos", str(folder), "--scenarios", SCENARIOS, "--cache", str(tmp_path / "cache"))
    first = _calibrate(capsys, *argv)
    assert first["cache"]["hits"] == 0
    second = _calibrate(capsys, *argv)
    assert second["cache"]["misses"] == 0 and second["cache"]["hits"] > 0
    assert second["scenarios"] == first["scenarios"]
    burst = first["scenarios"]["id_chip~kiosk:2"]
    # Two people, two photos each: 4 ordered same-person pairs, 8 ordered stranger pairs.
    assert (burst["genuine"]["pairs"], burst["impostor"]["pairs"]) == (4, 8)
    assert burst["false_accepts"] == 0
    assert set(burst["review"]) == {"genuine", "impostor"}
    # Two references: the chip from one photo, the enrolment photo from the same or the other,
    # against a live photo that is neither (genuine) or someone else's (impostor).
    both = first["scenarios"]["id_chip+enrolment_soft~cctv:2"]
    assert (both["genuine"]["pairs"], both["impostor"]["pairs"]) == (4, 16)
    assert first["settings"]["face_references"] == "mean"


def test_a_replay_with_other_gates_needs_no_new_measurement(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("--photos", str(folder), "--scenarios", "id_chip~kiosk", "--cache", str(tmp_path / "cache"))
    _calibrate(capsys, *argv)
    strict = _calibrate(capsys, *argv, "--threshold", "0.2", "--review-margin", "0.3")
    assert strict["cache"]["misses"] == 0
    scenario = strict["scenarios"]["id_chip~kiosk"]
    assert scenario["threshold"] == 0.2
    assert scenario["false_rejects"] == scenario["genuine"]["pairs"]
    assert scenario["review"]["genuine"] == scenario["genuine"]["pairs"]
    assert scenario["accuracy_review_as_failure"] <= scenario["accuracy"]


def test_scenarios_are_named_as_written_and_unknown_pictures_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert Scenario.parse("id_chip+enrolment_soft~kiosk:5") == Scenario(("id_chip", "enrolment_soft"), "kiosk", 5)
    assert [s.name for s in parse_scenarios("id_chip~cctv:3,web250~web250", 1)] == ["id_chip~cctv:3", "web250~web250"]
    assert len(parse_scenarios("pairs", 1)) == 10
    assert {s.frames for s in parse_scenarios("gate", 3)} == {3}
    with pytest.raises(ValueError, match="passport"):
        parse_scenarios("passport~kiosk", 1)
    assert faces_cli.main(["calibrate", "--scenarios", "id_chip~web250:5"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == "usage"
