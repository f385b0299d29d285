"""Extra checks on the internal photo set (../shared/faces), where it exists.

That set may not be shipped and a user's clone does not have it, so these tests are skipped
without it; everything the product promises is covered by the shipped photos in
test_faces.py. Point ``HAZGATE_TEST_INTERNAL_FACES`` at the folder to run them from elsewhere.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from gateway.faces import FaceAnalysis, FaceError, FaceSettings, analyze, compare

REPO = Path(__file__).resolve().parents[1]
INTERNAL = Path(os.environ.get("HAZGATE_TEST_INTERNAL_FACES") or REPO.parent / "shared" / "faces")
CFG = FaceSettings()

pytestmark = pytest.mark.skipif(
    not (INTERNAL / "pairs.csv").is_file(),
    reason=f"internal photo set not found at {INTERNAL} (not shipped; set HAZGATE_TEST_INTERNAL_FACES "
    "to run these extras); the shipped photos in test_faces.py cover every promise",
)


def _rows(name: str) -> list[dict[str, str]]:
    path = INTERNAL / name
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


PAIRS = _rows("pairs.csv")
MANIFEST = {row["file"]: row for row in _rows("manifest.csv")}
_CACHE: dict[tuple[str, str], FaceAnalysis | FaceError] = {}


def analysed(rel: str, kind: str = "live") -> FaceAnalysis | FaceError:
    key = (rel, kind)
    if key not in _CACHE:
        try:
            _CACHE[key] = analyze((INTERNAL / rel).read_bytes(), CFG, kind)  # type: ignore[arg-type]
        except FaceError as exc:
            _CACHE[key] = exc
    return _CACHE[key]


def _verdicts(same: str) -> dict[str, tuple[bool, float]]:
    out = {}
    for row in PAIRS:
        if row["same"] != same:
            continue
        a, b = analysed(row["file1"], "reference"), analysed(row["file2"])
        assert isinstance(a, FaceAnalysis) and isinstance(b, FaceAnalysis), (row, a, b)
        result = compare(a, b, CFG)
        out[f"{row['file1']} vs {row['file2']}"] = (result.match, round(result.distance, 3))
    return out


def test_no_stranger_of_the_internal_set_is_accepted() -> None:
    accepted = {pair: d for pair, (match, d) in _verdicts("0").items() if match}
    assert accepted == {}


@pytest.mark.xfail(
    reason="known trade-off (docs/faces.md): the threshold is set by the closest strangers of the shipped set; "
    "3 of these 21 same-person pairs, years or a video still apart, measure 0.467-0.506 (officer review)",
    strict=True,
)
def test_every_same_person_pair_of_the_internal_set_matches() -> None:
    refused = {pair: d for pair, (match, d) in _verdicts("1").items() if not match}
    assert refused == {}


def test_same_person_pairs_years_apart_go_to_an_officer_rather_than_failing() -> None:
    from checks.policy import DEFAULT_POLICY

    beyond = {
        p: d for p, (_m, d) in _verdicts("1").items() if d > CFG.match_threshold + DEFAULT_POLICY.face_review_margin
    }
    assert beyond == {}


def test_every_single_face_photo_of_the_internal_set_is_usable() -> None:
    singles = [f for f, row in MANIFEST.items() if row["expected_faces"] == "1"]
    refused = {f: str(r) for f in singles if not isinstance(r := analysed(f), FaceAnalysis)}
    assert refused == {}


def test_internal_group_photos_are_refused_or_give_their_dominant_face() -> None:
    for rel, row in MANIFEST.items():
        if row["category"] != "multi_face":
            continue
        result = analysed(rel)
        if isinstance(result, FaceAnalysis):
            assert result.dominant and result.faces == int(row["expected_faces"]), rel
        else:
            assert result.code == "face_quality" and result.issue == "multiple_faces", rel
