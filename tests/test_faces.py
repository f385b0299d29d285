"""The face engine on the shipped photographs (hazgate/data/faces) and on ordinary copies of them.

Everything here runs on a clone with nothing beside it. Each photo is analysed once per session
(see ``analysis``); the expensive part of the suite is dlib's encoder, ~0.1-0.3 s per photo on
two cores. Checks on the internal photo set, where it exists, are in test_faces_internal.py.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from checks import personnel
from checks.facts import FaceEvidence
from checks.policy import DEFAULT_POLICY, CheckPolicy, FaceReferences, fused_face_distance
from checks.reasons import ReasonCode
from checks.result import CheckResult, CheckStatus
from gateway.faces import (
    FaceAnalysis,
    FaceError,
    FaceSettings,
    FaceUnusableError,
    ImageInputError,
    LivenessSettings,
    analyze,
    analyze_burst,
    check_liveness,
    compare,
    distance,
    verify,
    vision,
)
from gateway.faces import cli as faces_cli
from gateway.faces.fusion import mean_encoding
from gateway.faces.imageheader import read_header
from gateway.faces.liveness import eye_aspect_ratio, has_blink, head_motion, judge
from gateway.faces.models import Detection, FaceBox, FrameFace
from gateway.faces.quality import select_face
from tests.photos import (
    FACES,
    NO_FACE,
    PEOPLE,
    SINGLE,
    SOURCES,
    bgr,
    frame,
    id_chip,
    jpeg,
    kiosk_burst,
    kiosk_frame,
    photo,
    png,
    side_by_side,
    soft_scan,
    with_someone_at_the_edge,
    with_someone_behind,
)

REPO = Path(__file__).resolve().parents[1]
CFG = FaceSettings()
GENUINE = [pair for files in PEOPLE.values() for pair in itertools.combinations(files, 2)]
IMPOSTOR = [(a, b) for a, b in itertools.combinations(SINGLE, 2) if SOURCES[a]["identity"] != SOURCES[b]["identity"]]
# A distance beyond threshold + review margin is a plain mismatch, not a case for an officer.
MISMATCH = CFG.match_threshold + DEFAULT_POLICY.face_review_margin


def _pair_id(pair: tuple[str, str]) -> str:
    return "-vs-".join(Path(p).stem for p in pair)


@cache
def analysis(rel: str) -> FaceAnalysis | FaceError:
    """Each shipped photo analysed once (as a live capture) for the whole session, errors included."""
    try:
        return analyze(photo(rel), CFG)
    except FaceError as exc:
        return exc


def face_of(rel: str) -> FaceAnalysis:
    result = analysis(rel)
    assert isinstance(result, FaceAnalysis), f"{rel}: {result}"
    return result


def refusal(data: bytes, cfg: FaceSettings = CFG, kind: str = "live") -> FaceError:
    with pytest.raises(FaceError) as info:
        analyze(data, cfg, kind)  # type: ignore[arg-type]
    return info.value


def on_gate_frame(img: np.ndarray) -> np.ndarray:
    """A photo scaled into a grey 1280x720 frame, like the gate's face camera sends."""
    height, width = img.shape[:2]
    scale = min(720 / height, 1280 / width)
    small = cv2.resize(img, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), 110, np.uint8)
    y, x = (720 - small.shape[0]) // 2, (1280 - small.shape[1]) // 2
    frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return frame


# -- matching: the shipped people ---------------------------------------------------------------
@pytest.mark.parametrize("pair", GENUINE, ids=_pair_id)
def test_driver_matches_another_photo_of_himself(pair: tuple[str, str]) -> None:
    result = compare(face_of(pair[0]), face_of(pair[1]), CFG)
    assert result.match, f"distance {result.distance:.3f} > {result.threshold}"


def test_no_stranger_among_the_shipped_people_is_taken_for_someone_else() -> None:
    accepted = {
        _pair_id(pair): round(d, 3)
        for pair in IMPOSTOR
        if (d := compare(face_of(pair[0]), face_of(pair[1]), CFG).distance) <= CFG.match_threshold
    }
    assert accepted == {}
    assert len(IMPOSTOR) > 1000


def test_threshold_lies_between_the_same_person_and_the_closest_stranger() -> None:
    genuine = [compare(face_of(a), face_of(b), CFG).distance for a, b in GENUINE]
    impostor = [compare(face_of(a), face_of(b), CFG).distance for a, b in IMPOSTOR]
    assert max(genuine) < CFG.match_threshold < min(impostor)


def test_verify_reads_an_id_photo_and_a_live_capture_and_reports_the_contract_fields() -> None:
    result = verify(photo("lisa/lisa_1.jpg"), photo("lisa/lisa_5.jpg"), CFG)
    assert result.match
    assert result.threshold == CFG.match_threshold
    reference = analyze(photo("lisa/lisa_1.jpg"), CFG, "reference")  # 10 views, the live face 2
    assert result.distance == pytest.approx(compare(reference, face_of("lisa/lisa_5.jpg"), CFG).distance)


def test_distance_is_a_symmetric_metric_on_128_values() -> None:
    a, b = face_of("london_004/london_004_1.jpg").encoding, face_of("london_005/london_005_1.jpg").encoding
    assert len(a) == 128
    assert all(isinstance(v, float) for v in a)
    assert distance(a, a) == 0.0
    assert distance(a, b) == pytest.approx(distance(b, a))
    with pytest.raises(ValueError, match="128"):
        distance(a, b[:64])


def test_stored_registry_encoding_can_be_compared_without_the_photo() -> None:
    stored = list(face_of("london_024/london_024_1.jpg").encoding)
    assert compare(stored, face_of("london_024/london_024_2.jpg"), CFG).match
    assert not compare(stored, face_of("london_005/london_005_1.jpg"), CFG).match


# -- stories: one per kind of photo a gate meets ------------------------------------------------------
def test_id_card_chip_photo_matches_the_driver_at_the_kiosk() -> None:
    chip = analyze(id_chip("london_005/london_005_1.jpg"), CFG, kind="reference")
    assert (chip.image_width, chip.image_height) == (102, 126)
    live = analyze(kiosk_frame("london_005/london_005_2.jpg"), CFG, kind="live")
    assert (live.image_width, live.image_height) == (1280, 720)
    assert compare(chip, live, CFG).match


def test_soft_enrolment_photo_is_accepted_as_reference() -> None:
    enrolled = analyze(soft_scan("london_037/london_037_1.jpg", sigma=2.5), CFG, kind="reference")
    assert compare(enrolled, analyze(kiosk_frame("london_037/london_037_2.jpg"), CFG), CFG).match


def test_id_chip_softer_than_any_live_capture_may_be_still_counts_but_a_live_one_is_retaken() -> None:
    soft = cv2.GaussianBlur(
        frame(bgr("london_005/london_005_1.jpg"), "london_005/london_005_1.jpg", 102, 126, 65, dy=0.1), (0, 0), 2.2
    )
    chip = jpeg(soft, 60)
    reference = analyze(chip, CFG, kind="reference")
    assert reference.sharpness < CFG.min_sharpness
    assert compare(reference, analyze(kiosk_frame("london_005/london_005_2.jpg"), CFG), CFG).match
    error = refusal(chip, kind="live")
    assert (error.code, error.issue) == ("face_quality", "too_blurry")
    assert error.hint and "still" in error.hint


def test_ordinary_soft_enrolment_scans_are_usable_for_everyone() -> None:
    for files in PEOPLE.values():
        enrolled = analyze(soft_scan(files[0]), CFG, kind="reference")
        if len(files) > 1:
            assert compare(enrolled, face_of(files[1]), CFG).match, files


def test_a_smaller_face_behind_the_driver_still_verifies_the_driver() -> None:
    capture = with_someone_behind("london_008/london_008_2.jpg", "london_030/london_030_1.jpg", scale=0.55)
    live = analyze(capture, CFG)
    assert (live.faces, live.dominant) == (2, True)
    assert compare(analyze(id_chip("london_008/london_008_1.jpg"), CFG, "reference"), live, CFG).match
    assert not compare(face_of("london_030/london_030_1.jpg"), live, CFG).match


def test_an_off_centre_bigger_face_behind_a_central_driver_is_still_judged() -> None:
    capture = with_someone_at_the_edge("london_008/london_008_2.jpg", "london_030/london_030_1.jpg", scale=1.3)
    live = analyze(capture, CFG)
    assert (live.faces, live.dominant, live.dominant_by) == (2, True, "position")
    assert compare(analyze(id_chip("london_008/london_008_1.jpg"), CFG, "reference"), live, CFG).match
    assert not compare(face_of("london_030/london_030_1.jpg"), live, CFG).match


def test_two_people_side_by_side_are_refused_as_ambiguous() -> None:
    error = refusal(side_by_side("london_008/london_008_2.jpg", "london_030/london_030_1.jpg"))
    assert (error.code, error.issue) == ("face_quality", "multiple_faces")
    assert error.evidence["faces"] == 2
    assert error.hint


def test_someone_elses_face_is_refused_as_a_clear_mismatch() -> None:
    chip = analyze(id_chip("london_012/london_012_1.jpg"), CFG, kind="reference")
    result = compare(chip, analyze(kiosk_frame("london_004/london_004_2.jpg"), CFG), CFG)
    assert not result.match
    assert result.distance > MISMATCH


# -- a burst of live frames ------------------------------------------------------------------------
# burst_frames is 1 by default (docs/faces.md: the mirror view gave nearly as much for a third
# of the cost); a site can average more.
BURST = CFG.model_copy(update={"burst_frames": 5})


def test_a_burst_of_a_real_drivers_frames_verifies_with_their_encodings_averaged() -> None:
    frames = kiosk_burst("london_005/london_005_2.jpg")
    live = analyze_burst(frames, BURST)
    assert live.frames == 5
    assert live.box == analyze(frames[len(frames) // 2], CFG).box  # judged on its middle frame
    assert compare(analyze(id_chip("london_005/london_005_1.jpg"), CFG, "reference"), live, CFG).match
    assert analyze_burst(frames, CFG).frames == 1  # the default: the middle frame alone
    stranger = analyze(id_chip("london_012/london_012_1.jpg"), CFG, "reference")
    assert compare(stranger, live, CFG).distance > MISMATCH


def test_frames_of_a_burst_without_the_face_are_left_out_of_the_average() -> None:
    frames = kiosk_burst("london_005/london_005_2.jpg", frames=5)
    empty = jpeg(on_gate_frame(bgr("noface/noface_3.jpg")))
    live = analyze_burst([empty, frames[1], frames[2], frames[3], empty], BURST)
    assert live.frames == 3


def test_a_burst_whose_middle_frame_is_blurred_is_retaken() -> None:
    frames = kiosk_burst("london_005/london_005_2.jpg", frames=5)
    middle = cv2.imdecode(np.frombuffer(frames[2], np.uint8), cv2.IMREAD_COLOR)
    assert middle is not None
    frames[2] = jpeg(cv2.GaussianBlur(middle, (0, 0), 9))
    with pytest.raises(FaceUnusableError) as info:
        analyze_burst(frames, BURST)
    assert info.value.issue == "too_blurry"


def test_a_burst_of_identical_still_frames_matches_like_one_frame_but_liveness_refuses_it() -> None:
    frames = still_burst("london_004/london_004_1.jpg")
    live = analyze_burst(frames, BURST)
    assert live.frames == 5
    # Not to the last digit: the other frames' faces are found in a window around the first,
    # on HOG's coarser grid, so their boxes (and alignment) differ slightly.
    assert distance(live.encoding, analyze(frames[0], CFG).encoding) < 0.05
    assert check_liveness(frames, CFG).reason == "no_sign_of_life"


def test_burst_encodings_are_averaged_value_by_value() -> None:
    assert mean_encoding([(0.0, 1.0), (1.0, 3.0)]) == (0.5, 2.0)
    with pytest.raises(ValueError, match="no encodings"):
        mean_encoding([])


def test_the_id_card_and_enrolled_photos_decide_by_the_farther_or_by_the_mean_by_policy() -> None:
    assert fused_face_distance([0.30, 0.50], FaceReferences.EACH) == 0.50
    assert fused_face_distance([0.30, 0.50], FaceReferences.MEAN) == pytest.approx(0.40)
    assert fused_face_distance([0.42], FaceReferences.MEAN) == 0.42


def _personnel(face: FaceEvidence, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    from tests.test_checks import NOW, make_facts, make_person

    return personnel.check(make_facts(driver=make_person(face=face)), NOW, policy)


def test_a_driver_with_a_ten_year_old_id_card_photo_is_decided_on_both_photos_together() -> None:
    old_card = FaceEvidence(
        threshold=0.44, distance_to_id_photo=0.47, distance_to_enrolled=0.33, distance_between_photos=0.40
    )
    result = _personnel(old_card)
    assert result.status is CheckStatus.PASS
    driver = result.evidence["driver"]
    assert isinstance(driver, dict) and isinstance(driver["face"], dict)
    assert driver["face"]["mean_distance"] == pytest.approx(0.40)
    each = _personnel(old_card, DEFAULT_POLICY.model_copy(update={"face_references": FaceReferences.EACH}))
    assert [r.code for r in each.reasons] == [ReasonCode.FACE_BORDERLINE]


def test_a_card_whose_photo_is_not_the_enrolled_persons_gains_nothing_from_the_mean() -> None:
    swapped = FaceEvidence(
        threshold=0.44, distance_to_id_photo=0.25, distance_to_enrolled=0.62, distance_between_photos=0.70
    )
    result = _personnel(swapped)
    assert result.status is CheckStatus.FAIL
    assert [r.code for r in result.reasons] == [ReasonCode.FACE_MISMATCH]
    assert "enrolled photo" in result.reasons[0].message


# -- views of the aligned face --------------------------------------------------------------------------
def test_one_view_is_face_recognitions_own_encoding_and_more_views_are_reproducible() -> None:
    import face_recognition

    data = kiosk_frame("london_024/london_024_2.jpg")
    one = analyze(data, CFG.model_copy(update={"live_views": 1}))
    rgb = vision.decode_rgb(data, CFG)
    b = one.box
    own = face_recognition.face_encodings(rgb, [(b.top, b.right, b.bottom, b.left)], model="large")[0]
    assert distance(one.encoding, tuple(float(v) for v in own)) < 1e-9
    four = CFG.model_copy(update={"live_views": 4})
    assert analyze(data, four).encoding == analyze(data, four).encoding
    assert distance(analyze(data, four).encoding, one.encoding) > 0.01


# -- which face counts -----------------------------------------------------------------------------------
def _det(size: int, score: float = 2.0, left: int = 540, top: int = 260) -> Detection:
    return Detection(box=FaceBox(top=top, right=left + size, bottom=top + size, left=left), score=score)


def test_the_largest_face_is_verified_when_it_clearly_dominates_and_is_central() -> None:
    big = int(100 * CFG.dominant_face_ratio) + 1
    choice = select_face([_det(100, left=50, top=50), _det(big)], 1280, 720, 0, CFG)
    assert (choice.faces, choice.dominant, choice.dominant_by, choice.box.size) == (2, True, "size", big)


def test_two_faces_of_nearly_the_same_size_both_near_the_middle_are_ambiguous() -> None:
    with pytest.raises(FaceUnusableError) as info:
        select_face([_det(150, left=720), _det(180, left=400)], 1280, 720, 0, CFG)
    assert info.value.issue == "multiple_faces"
    assert info.value.evidence["size_ratio"] == pytest.approx(1.2)


def test_someone_one_size_step_smaller_off_to_the_side_leaves_the_driver_in_front_to_check() -> None:
    # 1.2 times smaller is one HOG size step: too close to call by size, but he stands aside.
    choice = select_face([_det(150, left=100), _det(180)], 1280, 720, 0, CFG)
    assert (choice.faces, choice.dominant, choice.dominant_by, choice.box.size) == (2, True, "position", 180)
    assert choice.size_ratio == pytest.approx(1.2)


def test_a_bigger_face_at_the_edge_does_not_hide_the_driver_in_front_of_the_camera() -> None:
    choice = select_face([_det(260, left=0), _det(180)], 1280, 720, 0, CFG)
    assert (choice.dominant_by, choice.box.size) == ("position", 180)
    assert choice.size_ratio < 1


def test_two_people_of_the_same_size_beside_each_other_stay_ambiguous() -> None:
    with pytest.raises(FaceUnusableError) as info:
        select_face([_det(180, left=540), _det(180, left=900)], 1280, 720, 0, CFG)
    assert "about as big" in info.value.message


def test_a_large_face_at_the_edge_of_the_picture_is_not_taken_for_the_driver() -> None:
    with pytest.raises(FaceUnusableError) as info:
        select_face([_det(300, left=0, top=0), _det(100, left=1100, top=600)], 1280, 720, 0, CFG)
    assert "off-centre" in info.value.message
    assert "no face is in front of the camera" in info.value.message


def test_a_faint_detection_next_to_a_real_face_does_not_count() -> None:
    choice = select_face([_det(88, score=1.6), _det(88, score=0.1, left=100)], 512, 512, 0, CFG)
    assert (choice.faces, choice.dominant, choice.score) == (1, False, 1.6)


# -- exactly one face -------------------------------------------------------------------------------
@pytest.mark.parametrize("rel", NO_FACE, ids=lambda rel: Path(rel).stem)
def test_picture_without_a_person_gives_face_not_found(rel: str) -> None:
    result = analysis(rel)
    assert isinstance(result, FaceUnusableError)
    assert result.code == "face_not_found"
    assert result.hint


def test_two_dancers_of_the_same_size_are_a_quality_refusal() -> None:
    result = analysis("multiface/multiface_2.jpg")
    assert isinstance(result, FaceUnusableError)
    assert (result.code, result.issue) == ("face_quality", "multiple_faces")
    assert "multiple faces" in result.message
    assert result.evidence["faces"] == 2


@pytest.mark.parametrize("kind", ["reference", "live"])
def test_every_single_face_photo_is_usable(kind: str) -> None:
    # Usable or refused is decided before any encoding (detection, dominance, quality): one view
    # each gives the same verdict as the engine's ten reference views, at a tenth of the cost.
    one_view = CFG.model_copy(update={"reference_views": 1, "live_views": 1})
    refused = {}
    for rel in SINGLE:
        try:
            analyze(photo(rel), one_view, kind)  # type: ignore[arg-type]
        except FaceError as exc:
            refused[rel] = str(exc)
    assert refused == {}


def test_astronaut_mission_patch_is_not_taken_for_a_second_face() -> None:
    rgb = vision.decode_rgb(photo("eileen_collins/eileen_collins_1.jpg"), CFG)
    detections, upsample = vision.detect_faces(rgb, CFG)
    assert upsample == 0
    assert len(detections) == 2  # HOG fires on the round patch, faintly
    assert min(d.score for d in detections) < CFG.min_face_score <= max(d.score for d in detections)
    face = face_of("eileen_collins/eileen_collins_1.jpg")
    assert (face.faces, face.dominant) == (1, False)
    assert face.box.top < 200  # the face, not the patch lower on the suit


def test_face_cut_by_the_image_border_is_still_usable() -> None:
    img = bgr("london_001/london_001_1.jpg")
    box = face_of("london_001/london_001_1.jpg").box
    cut = img[:, box.left + box.width // 4 :]  # a quarter of the face beyond the left edge
    face = analyze(jpeg(cut), CFG)
    assert face.box.left == 0
    assert compare(face, face_of("london_001/london_001_2.jpg"), CFG).match


def test_low_resolution_camera_frame_is_usable_and_matches_another_photo() -> None:
    small = cv2.resize(on_gate_frame(bgr("london_002/london_002_1.jpg")), (320, 180), interpolation=cv2.INTER_AREA)
    face = analyze(jpeg(small, 70), CFG)
    assert (face.image_width, face.image_height) == (320, 180)
    assert compare(face, face_of("london_002/london_002_2.jpg"), CFG).match


def test_transparent_png_id_photo_is_converted_and_matches() -> None:
    bgra = cv2.cvtColor(bgr("london_006/london_006_1.jpg"), cv2.COLOR_BGR2BGRA)
    bgra[..., 3] = 200
    rgba = analyze(png(bgra), CFG, kind="reference")
    assert compare(rgba, face_of("london_006/london_006_2.jpg"), CFG).match
    # The same picture as the JPEG, so alpha must not have changed the face.
    assert compare(rgba, face_of("london_006/london_006_1.jpg"), CFG).distance < 0.1


def test_black_and_white_photo_is_usable() -> None:
    grey = cv2.cvtColor(bgr("london_034/london_034_1.jpg"), cv2.COLOR_BGR2GRAY)
    face = analyze(jpeg(grey), CFG, kind="reference")
    assert compare(face, face_of("london_034/london_034_2.jpg"), CFG).match


def test_phone_photo_stored_sideways_with_exif_orientation_is_turned_upright() -> None:
    sideways = Image.open(FACES / "london_038/london_038_1.jpg").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buf = io.BytesIO()
    sideways.save(buf, "JPEG", exif=exif.tobytes())
    face = analyze(buf.getvalue(), CFG)
    assert compare(face, face_of("london_038/london_038_1.jpg"), CFG).distance < 0.1


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, I am a text file",
        b'{"image_b64": "/9j/4AAQSkZJRg"}',
        b"/9j/4AAQSkZJRgABAQ",  # base64 text of a JPEG, not decoded
        b"GIF89a\x01\x00\x01\x00",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",  # JPEG cut off before its frame header
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    ],
    ids=["empty", "text", "json", "base64", "gif", "truncated-jpeg", "png-garbage"],
)
def test_bytes_that_are_not_a_photo_give_not_an_image(data: bytes) -> None:
    error = refusal(data)
    assert isinstance(error, ImageInputError)
    assert error.code == "not_an_image"
    assert error.to_dict()["error"] == "not_an_image"


def test_jpeg_with_corrupt_data_after_a_valid_header_gives_not_an_image() -> None:
    data = photo("london_004/london_004_1.jpg")
    header_end = data.index(b"\xff\xda")  # start of scan: header intact, pixels garbage
    error = refusal(data[: header_end + 2] + bytes(64))
    assert error.code == "not_an_image"


def test_oversize_upload_is_refused_before_decoding() -> None:
    data = photo("london_004/london_004_1.jpg")
    error = refusal(data + bytes(CFG.max_image_bytes))
    assert error.code == "image_too_large"
    assert str(CFG.max_image_bytes) in error.message


def _png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_small_file_claiming_a_huge_picture_is_refused_without_allocating_it() -> None:
    error = refusal(_png_claiming(60_000, 60_000))
    assert error.code == "image_too_large"
    assert "60000x60000" in error.message


def test_pixel_limit_applies_to_real_photos_too() -> None:
    tight = CFG.model_copy(update={"max_image_pixels": 300_000})  # the photos are 600x600
    assert refusal(photo("london_004/london_004_1.jpg"), tight).code == "image_too_large"


@pytest.mark.parametrize("rel", sorted(SOURCES), ids=lambda rel: Path(rel).stem)
def test_header_reader_agrees_with_the_notice_of_sources(rel: str) -> None:
    header = read_header(photo(rel))
    width, height = SOURCES[rel]["shipped_size"].split("x")
    assert (header.width, header.height) == (int(width), int(height))


def test_grey_bgra_and_16_bit_arrays_become_8_bit_rgb() -> None:
    blue_bgra = np.zeros((2, 2, 4), np.uint8)
    blue_bgra[..., 0] = 255
    assert vision.to_rgb(blue_bgra)[0, 0].tolist() == [0, 0, 255]
    grey16 = np.full((2, 2), 0xFF00, np.uint16)
    assert vision.to_rgb(grey16)[0, 0].tolist() == [255, 255, 255]
    with pytest.raises(ImageInputError):
        vision.to_rgb(np.zeros((2, 2, 2), np.uint8))


# -- face quality ---------------------------------------------------------------------------------
def test_blurred_capture_is_refused_with_advice_to_hold_still() -> None:
    error = refusal(jpeg(cv2.GaussianBlur(bgr("london_004/london_004_1.jpg"), (0, 0), 8)))
    assert (error.code, error.issue) == ("face_quality", "too_blurry")
    assert "blurry" in error.message
    assert error.hint and "still" in error.hint


def test_face_in_the_dark_is_refused_as_too_dark() -> None:
    error = refusal(jpeg(cv2.convertScaleAbs(bgr("london_025/london_025_1.jpg"), alpha=0.15)))
    assert (error.code, error.issue) == ("face_quality", "too_dark")
    assert error.hint and "light" in error.hint


def test_face_burnt_out_by_a_flash_is_refused_as_too_bright() -> None:
    error = refusal(jpeg(cv2.convertScaleAbs(bgr("london_025/london_025_1.jpg"), alpha=0.25, beta=205)))
    assert (error.code, error.issue) == ("face_quality", "too_bright")


def test_driver_far_from_the_camera_is_asked_to_come_closer() -> None:
    img = bgr("london_004/london_004_1.jpg")
    scale = 40 / face_of("london_004/london_004_1.jpg").box.size  # a ~40 px face
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    error = refusal(jpeg(small))
    assert (error.code, error.issue) == ("face_quality", "too_small")
    assert int(error.evidence["face_px"]) < CFG.min_face_px
    assert error.hint and "closer" in error.hint


def test_face_too_small_even_to_detect_is_not_found() -> None:
    img = bgr("london_004/london_004_1.jpg")
    scale = 15 / face_of("london_004/london_004_1.jpg").box.size
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    assert refusal(jpeg(small)).code == "face_not_found"


def test_every_persons_id_chip_photo_matches_their_kiosk_capture() -> None:
    """Second-generation ID cards hold a 102x126 px JPEG: the face is ~65 px, and still matches."""
    failed = {}
    for files in PEOPLE.values():
        if len(files) < 2:
            continue
        chip = analyze(id_chip(files[0]), CFG, kind="reference")
        assert chip.box.size >= CFG.min_face_px
        result = compare(chip, analyze(kiosk_frame(files[1]), CFG), CFG)
        if not result.match:
            failed[files[0]] = round(result.distance, 3)
    assert failed == {}


def test_gate_frame_1280x720_is_analysed_and_matched() -> None:
    # Speed is measured by `hazgate bench gate`, not asserted here (docs/faces.md, Performance).
    face = analyze(jpeg(on_gate_frame(bgr("london_003/london_003_1.jpg"))), CFG)
    assert (face.image_width, face.image_height) == (1280, 720)
    assert compare(face, face_of("london_003/london_003_2.jpg"), CFG).match


def test_driver_and_escort_analysed_in_parallel_threads_get_the_sequential_answers() -> None:
    """dlib's shared models are not thread-safe (wrong counts, then a crash, without the lock)."""
    from concurrent.futures import ThreadPoolExecutor

    rels = ["london_004/london_004_1.jpg", "london_025/london_025_1.jpg", "london_024/london_024_2.jpg"] * 2
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda rel: analyze(photo(rel), CFG), rels))
    for rel, result in zip(rels, results, strict=True):
        assert result.box == face_of(rel).box
        assert distance(result.encoding, face_of(rel).encoding) < 1e-6


def test_settings_refuse_inverted_brightness_bounds() -> None:
    with pytest.raises(ValueError, match="min_brightness"):
        FaceSettings(min_brightness=200, max_brightness=100)
    with pytest.raises(ValueError, match="min_frames"):
        LivenessSettings(min_frames=10, max_frames=5)


# -- liveness: pure arithmetic --------------------------------------------------------------------
def _eye(height: float) -> tuple[tuple[float, float], ...]:
    """Six EAR points of an eye 10 wide and ``height`` high."""
    h = height / 2
    return ((0, 0), (3, -h), (7, -h), (10, 0), (7, h), (3, h))


def _frame(dx: float = 0.0, eye_height: float = 3.0) -> FrameFace:
    rigid = tuple((x + dx, y) for x in range(0, 60, 10) for y in range(0, 60, 10))
    left = tuple((x + 5 + dx, y + 20) for x, y in _eye(eye_height))
    right = tuple((x + 45 + dx, y + 20) for x, y in _eye(eye_height))
    return FrameFace(box=FaceBox(top=0, right=60, bottom=60, left=0), rigid=rigid, left_eye=left, right_eye=right)


def test_eye_aspect_ratio_is_height_over_width() -> None:
    assert eye_aspect_ratio(_eye(3.0)) == pytest.approx(0.3)
    assert eye_aspect_ratio(_eye(0.0)) == 0.0


def test_blink_needs_open_eyes_before_and_after_the_closed_frame() -> None:
    assert has_blink([0.30, 0.31, 0.12, 0.29], ratio=0.75)
    assert not has_blink([0.30, 0.29, 0.31, 0.30], ratio=0.75)
    assert not has_blink([0.12, 0.30, 0.31], ratio=0.75)  # starts shut
    assert not has_blink([0.30, 0.25, 0.12], ratio=0.75)  # drifts shut, never reopens


def test_head_motion_is_measured_in_eye_distances() -> None:
    assert head_motion([_frame(), _frame()]) == 0.0
    assert head_motion([_frame(), _frame(dx=4.0)]) == pytest.approx(0.1)  # eyes 40 apart


def test_judge_names_the_missing_sign_of_life() -> None:
    cfg = LivenessSettings()
    still = judge([_frame()] * 5, 5, cfg)
    assert (still.alive, still.reason) == (False, "no_sign_of_life")
    blink = judge([_frame(), _frame(eye_height=0.5), _frame()], 3, cfg)
    assert (blink.alive, blink.blink) == (True, True)
    lost = judge([_frame()] * 2, 8, cfg)
    assert lost.reason == "face_lost"
    moved = judge([_frame(), _frame(dx=8.0), _frame(dx=16.0)], 3, cfg.model_copy(update={"require_blink": True}))
    assert (moved.alive, moved.reason) == (False, "no_blink")


# -- liveness: bursts made from real photos --------------------------------------------------------
Burst = Callable[[str], list[bytes]]


def _warp(img: np.ndarray, dx: float, dy: float, degrees: float) -> np.ndarray:
    centre = (img.shape[1] / 2, img.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    matrix[0, 2] += dx
    matrix[1, 2] += dy
    return cv2.warpAffine(img, matrix, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def _eyes_painted_shut(img: np.ndarray) -> np.ndarray:
    """Closed eyelids: each eye covered with the skin of the lid above it, a lash line below."""
    import face_recognition

    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    marks = face_recognition.face_landmarks(rgb, face_recognition.face_locations(rgb, 0))[0]
    out = img.copy()
    for eye_name, brow_name in (("left_eye", "left_eyebrow"), ("right_eye", "right_eyebrow")):
        eye = np.array(marks[eye_name], np.float64)
        brow = np.array(marks[brow_name], np.float64)
        width = float(np.linalg.norm(eye[3] - eye[0]))
        lid = (eye[1:3].mean(0) * 0.4 + brow.mean(0) * 0.6).astype(int)
        r = max(2, int(width * 0.08))
        skin = np.median(img[lid[1] - r : lid[1] + r + 1, lid[0] - r : lid[0] + r + 1].reshape(-1, 3), axis=0)
        centre = eye.mean(0)
        cv2.fillPoly(out, [((eye - centre) * 1.6 + centre).astype(np.int32)], tuple(int(c) for c in skin))
        soft = cv2.GaussianBlur(out, (0, 0), max(1.0, width * 0.08))
        mask = np.zeros(out.shape[:2], np.uint8)
        cv2.fillPoly(mask, [((eye - centre) * 1.9 + centre).astype(np.int32)], 255)
        out[mask > 0] = soft[mask > 0]
        lashes = np.array([eye[0], eye[5], eye[4], eye[3]]).astype(np.int32)
        cv2.polylines(out, [lashes], False, (30, 35, 50), max(1, int(width * 0.07)), cv2.LINE_AA)
    return out


@cache
def gate_frame(rel: str) -> np.ndarray:
    return on_gate_frame(bgr(rel))


def still_burst(rel: str) -> list[bytes]:
    return [jpeg(gate_frame(rel))] * 8


def noisy_still_burst(rel: str) -> list[bytes]:
    """A photo held still: JPEG quality 70-95 and a pixel of shake between frames."""
    frame = gate_frame(rel)
    qualities = [95, 85, 75, 90, 80, 70, 88, 92]
    return [jpeg(_warp(frame, i % 2, (i // 2) % 2, 0), q) for i, q in enumerate(qualities)]


def moving_burst(rel: str) -> list[bytes]:
    """The head drifts 6 px right, 2 px down and turns 1 degree per frame."""
    frame = gate_frame(rel)
    return [jpeg(_warp(frame, 6 * i, 2 * i, 1.0 * i)) for i in range(8)]


def blink_burst(rel: str) -> list[bytes]:
    frame = gate_frame(rel)
    return [jpeg(frame, 95), jpeg(frame, 85), jpeg(frame, 90), jpeg(_eyes_painted_shut(frame)), jpeg(frame, 80)]


@pytest.mark.parametrize("make", [still_burst, noisy_still_burst], ids=["identical", "jpeg-noise"])
@pytest.mark.parametrize("rel", ["london_004/london_004_1.jpg", "lisa/lisa_5.jpg"])
def test_printed_photo_held_still_in_front_of_the_camera_is_not_alive(rel: str, make: Burst) -> None:
    result = check_liveness(make(rel), CFG)
    assert (result.alive, result.reason) == (False, "no_sign_of_life")
    assert result.frames == 8
    assert not result.blink
    assert result.motion < CFG.liveness.min_motion / 1.5


@pytest.mark.parametrize("rel", ["london_004/london_004_1.jpg", "london_012/london_012_1.jpg"])
def test_driver_turning_the_head_shows_motion(rel: str) -> None:
    result = check_liveness(moving_burst(rel), CFG)
    assert result.alive
    assert result.motion > 3 * CFG.liveness.min_motion
    assert result.frames == 8


@pytest.mark.parametrize(
    "rel",
    ["london_025/london_025_1.jpg", "london_003/london_003_1.jpg", "london_001/london_001_1.jpg"],
)
def test_driver_blinking_while_standing_still_is_alive(rel: str) -> None:
    # Only faces on which dlib's landmarks follow painted-shut eyes; see docs/faces.md for
    # the three where they do not.
    result = check_liveness(blink_burst(rel), CFG)
    assert result.blink, result.ears
    assert result.motion < CFG.liveness.min_motion
    assert result.alive
    assert min(result.ears) < CFG.liveness.blink_ratio * result.ears[0]


def test_burst_without_a_face_is_not_alive() -> None:
    frames = [jpeg(bgr("noface/noface_3.jpg"))] * 4
    result = check_liveness(frames, CFG)
    assert (result.alive, result.reason, result.frames) == (False, "face_lost", 0)


@pytest.mark.parametrize("count", [1, 2, 16])
def test_burst_of_the_wrong_length_is_refused_unseen(count: int) -> None:
    result = check_liveness([b"not even an image"] * count, CFG)
    assert (result.alive, result.reason) == (False, "burst_length")


def test_burst_with_a_frame_that_is_not_an_image_raises() -> None:
    frames = [jpeg(gate_frame("london_004/london_004_1.jpg")), b"garbage", b"garbage"]
    with pytest.raises(ImageInputError):
        check_liveness(frames, CFG)


# -- command line ----------------------------------------------------------------------------------
def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    code = faces_cli.main(list(argv))
    lines = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in lines]


def test_cli_verify_prints_the_contract_json_for_a_matching_pair(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(
        capsys,
        "verify",
        str(FACES / "london_025/london_025_2.jpg"),
        str(FACES / "london_025/london_025_1.jpg"),
        "--json",
    )
    assert code == 0
    assert len(out) == 1
    assert set(out[-1]) == {"match", "distance", "threshold"}
    assert out[-1]["match"] is True
    assert out[-1]["threshold"] == CFG.match_threshold


def test_cli_verify_of_two_different_people_exits_zero_with_no_match(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(
        capsys, "verify", str(FACES / "london_025/london_025_1.jpg"), str(FACES / "london_004/london_004_1.jpg")
    )
    assert code == 0
    assert out[-1]["match"] is False


def test_cli_verify_of_a_bad_image_exits_nonzero_with_the_error_code(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    code, out = run_cli(capsys, "verify", str(FACES / "london_004/london_004_1.jpg"), str(notes), "--json")
    assert code != 0
    assert out[-1]["error"] == "not_an_image"
    assert out[-1]["message"]
    code, out = run_cli(
        capsys, "verify", str(FACES / "noface/noface_4.jpg"), str(FACES / "london_004/london_004_1.jpg")
    )
    assert (code, out[-1]["error"]) == (1, "face_not_found")
    code, out = run_cli(capsys, "verify", str(tmp_path / "missing.jpg"), str(FACES / "london_004/london_004_1.jpg"))
    assert (code, out[-1]["error"]) == (1, "unreadable_file")


def test_cli_verify_with_one_image_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "verify", str(FACES / "london_004/london_004_1.jpg"))
    assert (code, out[-1]["error"]) == (2, "usage")


def _write_pairs(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A pairs CSV in tmp_path whose paths are relative to it, as the contract says."""
    path = tmp_path / "pairs.csv"
    lines = ["file1,file2,same"]
    for file1, file2, same in rows:
        rel1 = os.path.relpath(FACES / file1, tmp_path)
        rel2 = os.path.relpath(FACES / file2, tmp_path)
        lines.append(f"{rel1},{rel2},{same}")
    path.write_text("\n".join(lines) + "\n")
    return path


SMALL_PAIRS = [
    ("london_004/london_004_1.jpg", "london_004/london_004_2.jpg", "1"),
    ("london_004/london_004_1.jpg", "london_025/london_025_1.jpg", "0"),
    ("london_025/london_025_1.jpg", "london_025/london_025_2.jpg", "1"),
    ("london_004/london_004_2.jpg", "london_025/london_025_2.jpg", "0"),
]


def test_cli_pairs_prints_a_line_per_pair_and_a_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_cli(capsys, "verify", "--pairs", str(_write_pairs(tmp_path, SMALL_PAIRS)), "--json")
    assert code == 0
    *lines, summary = out
    assert len(lines) == 4
    assert [line["match"] for line in lines] == [True, False, True, False]
    assert all(line["correct"] is True for line in lines)
    assert lines[0]["same"] is True
    assert summary["pairs"] == 4
    assert (summary["correct"], summary["incorrect"], summary["errors"]) == (4, 0, 0)
    # Four distinct photos in four pairs: each encoded once.
    assert summary["images"] == 4
    assert summary["genuine_distance"]["max"] < summary["threshold"] < summary["impostor_distance"]["min"]
    assert summary["seconds"] >= 0


def test_cli_pairs_reports_unusable_photos_and_exits_nonzero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = [*SMALL_PAIRS[:1], ("london_004/london_004_1.jpg", "multiface/multiface_2.jpg", "0")]
    code, out = run_cli(capsys, "verify", "--pairs", str(_write_pairs(tmp_path, rows)))
    assert code == 1
    assert out[1]["error"] == "face_quality"
    assert out[1]["issue"] == "multiple_faces"
    assert out[1]["file"].endswith("multiface_2.jpg")
    assert (out[-1]["errors"], out[-1]["correct"]) == (1, 1)


def test_cli_pairs_without_ground_truth_still_summarises(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "todo.csv"
    rel = os.path.relpath(FACES / "london_004/london_004_1.jpg", tmp_path)
    path.write_text(f"file1,file2,note\n{rel},{rel},same file\n")
    code, out = run_cli(capsys, "verify", "--pairs", str(path))
    assert code == 0
    assert "same" not in out[0] and "correct" not in out[0]
    assert "correct" not in out[-1]
    # The same photo, encoded as a reference (10 views) and as a live capture (2 views).
    assert out[-1]["distance"]["max"] < 0.1


def test_cli_pairs_file_without_the_columns_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\nx.jpg,y.jpg\n")
    code, out = run_cli(capsys, "verify", "--pairs", str(path))
    assert (code, out[-1]["error"]) == (2, "bad_pairs_file")
    assert "file1,file2" in str(out[-1]["message"])


def test_cli_runs_as_a_module_in_a_subprocess(tmp_path: Path) -> None:
    pairs = _write_pairs(tmp_path, SMALL_PAIRS[:2])
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.faces.cli", "verify", "--pairs", str(pairs), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["match"] for line in out[:-1]] == [True, False]
    assert out[-1]["accuracy"] == 1.0
