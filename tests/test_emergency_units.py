"""Pure parts of emergency response and the lists: ERG pages and tables parsed, the substance
catalogue merged, distances on the ground, day and night by the sun, the card's choices."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from emergency.card import Cargo, Center, Incident, Positioned, response_card
from emergency.catalogue import ParkEntry, resolve
from emergency.erg import GUIDE_FIELDS, load_erg
from emergency.geo import Point, distance_to_polygon_m, haversine_m, is_night, is_night_by_clock
from emergency.park import CatalogueImportRefused, parse_catalogue
from registry.blacklist import Listing, blacklisted

PAGE_MARK = re.compile(r"ERG 2016\s*Page \d|Page \d+\s*ERG 2016|\bGUIDE \d{3}$")
NINGBO = Point(lat=29.98, lon=121.66)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_all_64_guides_split_into_five_fields_without_page_furniture():
    erg = load_erg()
    assert sorted(erg.guides) == list(range(111, 175))
    for guide in erg.guides.values():
        assert guide.title and guide.title == guide.title.upper()
        for name in GUIDE_FIELDS:
            items = getattr(guide, name)
            assert items, (guide.number, name)
            for item in items:
                assert not PAGE_MARK.search(item) and "•" not in item, (guide.number, item)
                assert "Emergency Response Assistance Plan" not in item  # Canada's ERAP notice
    g124 = erg.guides[124]
    assert g124.hazards[0] == "Health: TOXIC; may be fatal if inhaled or absorbed through skin."
    assert "Evacuation, spill: See Table 1 - Initial Isolation and Protective Action Distances." in g124.public_safety
    assert g124.fire[0].startswith("Small Fire: CAUTION: These materials do not burn")
    assert g124.first_aid[-1] == "Effects of contact or inhalation may be delayed."
    assert erg.guides[170].title.startswith("METALS (POWDERS, DUSTS")


def test_table1_and_the_guides_own_distances():
    chlorine = resolve("UN1017")
    assert chlorine is not None and chlorine.erg_guide == 124 and chlorine.tih
    assert chlorine.isolation_m is not None and chlorine.isolation_m.small == 60
    assert chlorine.protective_m is not None and (
        chlorine.protective_m.small_day,
        chlorine.protective_m.small_night,
    ) == (
        300,
        1100,
    )
    assert {t.container for t in chlorine.table3} >= {"highway_tank_truck", "rail_tank_car"}
    propylene = resolve("UN1077")
    assert propylene is not None and propylene.erg_guide == 115 and not propylene.tih
    assert propylene.distance_source == "guide" and propylene.protective_m is None
    assert propylene.isolation_m is not None and (propylene.isolation_m.small, propylene.isolation_m.large) == (
        100,
        800,
    )
    water = resolve("UN1717")  # acetyl chloride: in Table 1 only when spilled in water
    assert water is not None and water.distance_source == "table1_water" and not water.tih
    assert water.water_reactive_gases == ("Hydrogen chloride",)
    assert resolve("UN1203") is not None and resolve("UN1203").erg_guide is None  # type: ignore[union-attr]
    assert resolve("UN3999") is None
    park = resolve("UN1203", ParkEntry(un="UN1203", name_zh="汽油", erg_guide=128))
    assert park is not None and park.erg_guide == 128 and park.name_zh == "汽油" and park.fire_isolation_m == 800


def test_distances_on_the_ground():
    north = Point(lat=NINGBO.lat + 1 / 111.195, lon=NINGBO.lon)  # 1 km
    assert haversine_m(NINGBO, north) == pytest.approx(1000, rel=0.003)
    square = [
        Point(lat=29.99, lon=121.65),
        Point(lat=29.99, lon=121.67),
        Point(lat=29.97, lon=121.67),
        Point(lat=29.97, lon=121.65),
    ]
    assert distance_to_polygon_m(NINGBO, square) == 0
    east = Point(lat=29.98, lon=121.68)
    assert distance_to_polygon_m(east, square) == pytest.approx(
        haversine_m(east, Point(lat=29.98, lon=121.67)), rel=0.01
    )


@pytest.mark.parametrize(
    ("month", "hour", "night"),
    [
        (6, 4, True),
        (6, 6, False),
        (6, 18, False),
        (6, 20, True),
        (12, 6, True),
        (12, 8, False),
        (12, 17, True),
        (3, 23, True),
        (3, 11, False),
    ],
)
def test_erg_night_is_sunset_to_sunrise_at_the_park(month, hour, night):
    assert is_night(datetime(2026, month, 21, hour, 30, tzinfo=SHANGHAI), NINGBO) is night


def test_night_by_the_clock_when_no_place_is_known():
    at = lambda h: datetime(2026, 5, 1, h, tzinfo=SHANGHAI)  # noqa: E731
    assert is_night_by_clock(at(23), time(17), time(7)) and is_night_by_clock(at(3), time(17), time(7))
    assert not is_night_by_clock(at(11), time(17), time(7))


def _incident(**kw) -> Incident:
    base = dict(
        alert_id="a1",
        un="UN1017",
        cargo_name="液氯",
        substance=resolve("UN1017"),
        guide=load_erg().guides[124],
        center=Center(lat=NINGBO.lat, lon=NINGBO.lon, source="vehicle:浙B1"),
        at=datetime(2026, 5, 1, 15, tzinfo=UTC),
        local_time="2026-05-01 23:00",
        is_night=True,
        night_basis="test",
        source_plate="浙B1",
    )
    return Incident(**{**base, **kw})


def test_the_card_lists_what_is_inside_the_radius_but_not_the_incident_itself():
    near = Point(lat=NINGBO.lat + 0.0005, lon=NINGBO.lon)  # ~56 m: inside the 60 m isolation
    far = Point(lat=NINGBO.lat + 0.02, lon=NINGBO.lon)  # ~2.2 km
    things = [
        Positioned(kind="vehicle", id="浙B1", point=NINGBO, plate="浙B1"),
        Positioned(kind="device", id="tank-1", point=NINGBO, plate="浙B1"),
        Positioned(kind="vehicle", id="浙B2", point=near, plate="浙B2", cargo=Cargo(un="UN1077")),
        Positioned(kind="vehicle", id="浙B3", point=far, plate="浙B3"),
        Positioned(kind="zone", id="T1", polygon=(near, Point(lat=near.lat, lon=near.lon + 0.001), far)),
        Positioned(kind="person", id="unplaced"),
    ]
    card = response_card(_incident(), things, [])
    assert [(i.kind, i.id, i.zone) for i in card.inside] == [
        ("vehicle", "浙B2", "isolation"),
        ("zone", "T1", "isolation"),
    ]
    assert card.radius_m == 1100 and card.notes == []
    unknown = response_card(_incident(un="UN1993", substance=resolve("UN1993"), guide=None), things, [])
    assert unknown.guide is None and unknown.inside == [] and "No ERG guide is known for UN1993" in unknown.notes[0]
    nowhere = response_card(_incident(center=None), things, [])
    assert nowhere.inside == [] and any("No position" in n for n in nowhere.notes)


def test_a_park_catalogue_row_is_checked_and_rows_of_one_substance_merge():
    entries = parse_catalogue("un,name_zh,site,zones\nUN1203,汽油,north,T1;T2\nun 1203,,south,S1\n")
    assert len(entries) == 1 and entries[0].un == "UN1203" and entries[0].name_zh == "汽油"
    assert [(z.site, z.zone_id) for z in entries[0].zones] == [("north", "T1"), ("north", "T2"), ("south", "S1")]
    with pytest.raises(CatalogueImportRefused) as refused:
        parse_catalogue("un,class,max_quantity_kg\nUN1203,9.9,-1\n")
    assert {p.field for p in refused.value.problems} == {"class", "max_quantity_kg"}


def test_blacklisted_gives_a_reason_in_force_only():
    now = datetime(2026, 5, 10, tzinfo=UTC)
    listing = Listing(
        id="l1",
        list="black",
        subject_kind="vehicle",
        subject_id="浙B12345",
        reason="罐体泄漏未整改",
        until=now + timedelta(days=30),
        created_by="officer",
        created_at=now - timedelta(days=1),
    )
    (reason,) = blacklisted([listing], now)
    assert (
        reason.code == "blacklisted" and "2026-06-09 08:00" in reason.message_zh and "罐体泄漏未整改" in reason.message
    )
    assert blacklisted([listing], now + timedelta(days=31)) == []
    assert blacklisted([listing.model_copy(update={"list": "watch"})], now) == []
    assert blacklisted([listing.model_copy(update={"removed_at": now})], now) == []


def test_the_e_mail_of_a_critical_alert_reads_the_card_in_plain_text():
    from alerts.channels import email_message
    from alerts.payload import encode_body
    from emergency.sources import card_json

    card = card_json(
        response_card(_incident(), [Positioned(kind="vehicle", id="浙B2", point=NINGBO, plate="浙B2")], [])
    )
    body = encode_body(
        {"alert_id": "a1", "rule": "tank leak", "severity": "critical", "state": "firing", "response": card}
    )
    text = email_message(body, "duty@park.example", "hazgate@park.example", "d-1").get_content()
    assert "RESPONSE: UN1017 液氯 / CHLORINE" in text and "ERG guide 124: GASES - TOXIC AND/OR CORROSIVE" in text
    assert "small spill, night: isolate 60 m, protect downwind 1100 m, fire 800 m" in text
    assert "inside 1100 m: vehicle 浙B2 0 m" in text and "First aid:" in text
