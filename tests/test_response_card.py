"""Emergency response cards, told as the park's night shift lives them: a chlorine tanker leaks,
the officer gets guide 124, how far to clear by night and by day, which other tankers are inside
that radius — and the duty system's webhook gets the same card with the critical alert.

Everything runs for real: the devices publish over MQTT, the gateway stores the readings, the
alert service raises the alert and signs the webhook, the API builds the card from the database.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from hazgate.cli import main
from hazgate.simulate.demo_layout import demo_layout
from park.store import import_layout
from stays import store as stays_store
from stays.models import VisitState
from tests.fixtures.alerts import TANK
from tests.fixtures.mqtt import wait_until
from tests.fixtures.park import PARK, carrier, offset, vehicle, waybill, write_registry

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def api(app_server, admin_key: str) -> Iterator[httpx.Client]:
    """The admin's client, patient: these stories run beside a busy shared machine's other work."""
    with httpx.Client(
        base_url=app_server.base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
    ) as client:
        yield client


def leak_rule(site: str) -> dict[str, Any]:
    return {
        "name": "tank leak (pressure lost)",
        "kind": "threshold",
        "metric": "tank_pressure_kpa",
        "op": "<",
        "value": 300,
        "severity": "critical",
        "site": site,
    }


def next_local(hour: int) -> datetime:
    """The next moment the park's clock is in ``hour`` (after now, so every position is older,
    and less than a day after, so none is too old to be shown): a minute from now when the clock
    is in that hour already, else the next ``hour``:00."""
    now = datetime.now(SHANGHAI)
    if now.hour == hour:
        return now + timedelta(minutes=1)
    at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


class Park:
    """A site with tankers: each has a GPS tracker (``--plate``) and a waybill with cargo."""

    def __init__(self, settings, make_sensor, site: str) -> None:
        self.settings, self.make_sensor, self.site = settings, make_sensor, site
        self.rng = random.Random(site)
        self.trackers: dict[str, Any] = {}

    def tankers(self, cargo: dict[str, tuple[str, str, str]]) -> None:
        """plate -> (UN number, name on the waybill, class)."""
        cid = f"C-{self.site}"
        write_registry(
            self.settings.db_url,
            {
                "carriers": [carrier(cid, "甬港危运")],
                "vehicles": [vehicle(p, cid) for p in cargo],
                "waybills": [waybill(p, un, name, cls, self.rng) for p, (un, name, cls) in cargo.items()],
            },
        )

    def place(self, plate: str, north_m: float = 0.0, east_m: float = 0.0) -> None:
        tracker = self.trackers.get(plate) or self.make_sensor("gps_tracker", site=self.site, plate=plate)
        self.trackers[plate] = tracker
        lat, lon = offset(*PARK, north_m=north_m, east_m=east_m)
        tracker.send(
            tracker.reading({"lat": lat, "lon": lon, "speed_kmh": 0.0}, datetime.now(UTC) - timedelta(seconds=30))
        )

    def wait_positions(self) -> None:
        ids = [t.device_id for t in self.trackers.values()]

        def stored() -> bool:
            with psycopg.connect(self.settings.db_url) as conn:
                row = conn.execute(
                    "SELECT count(DISTINCT device_id) FROM telemetry WHERE device_id = ANY(%s)", (ids,)
                ).fetchone()
            return bool(row and row[0] == len(ids))

        wait_until(stored, 30)


def fire_leak(make_sensor, site: str, plate: str, webhook) -> dict[str, Any]:
    tank = make_sensor("tank_sensor", site=site, plate=plate)
    tank.send(tank.reading({**TANK, "tank_pressure_kpa": 120.0}))
    delivery = wait_until(
        lambda: [d for d in webhook.accepted() if d.body.get("device_id") == tank.device_id and d.kind == "firing"], 30
    )[0]
    return dict(delivery.body)


def inside_ids(card: dict[str, Any], kind: str = "vehicle") -> set[str]:
    return {i["id"] for i in card["inside"] if i["kind"] == kind}


def test_chlorine_tanker_leak_card_clears_1100_m_at_night_and_300_m_by_day(
    settings, alerts, make_sensor, make_rule, subscribe, webhook, api
):
    park = Park(settings, make_sensor, f"cl{random.randrange(10**6)}")
    park.tankers(
        {
            "浙B10170": ("UN1017", "液氯", "2.3"),  # the leaking chlorine tanker
            "浙B20771": ("UN1077", "丙烯", "2.1"),  # 250 m north: inside by day and by night
            "浙B30772": ("UN1077", "丙烯", "2.1"),  # 700 m east: inside only by night (1.1 km)
            "浙B40773": ("UN1203", "汽油", "3"),  # 2.5 km north: outside either way
        }
    )
    park.place("浙B10170")
    park.place("浙B20771", north_m=250)
    park.place("浙B30772", east_m=700)
    park.place("浙B40773", north_m=2500)
    park.wait_positions()
    make_rule(**leak_rule(park.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=park.site)
    alerts.wait_in_force()

    body = fire_leak(make_sensor, park.site, "浙B10170", webhook)

    # The duty system's webhook carries the card with the critical alert.
    response = body["response"]
    assert response["un"] == "UN1017" and response["erg_guide"] == 124
    assert response["substance"]["name_zh"] == "液氯" and response["substance"]["tih"] is True
    assert response["center"]["source"] == "vehicle:浙B10170"
    assert "浙B20771" in inside_ids(response) and "浙B40773" not in inside_ids(response)

    # At 23:00 park time: ERG Table 1 night distances for a small chlorine spill.
    night = api.get(f"/api/v1/alerts/{body['alert_id']}/response", params={"at": next_local(23).isoformat()})
    assert night.status_code == 200, night.text
    card = night.json()
    assert card["is_night"] is True and card["spill"] == "small"
    assert (card["isolation_m"], card["protective_m"], card["fire_isolation_m"]) == (60, 1100, 800)
    assert card["distance_source"] == "table1" and card["radius_m"] == 1100
    assert card["guide_title"] == "GASES - TOXIC AND/OR CORROSIVE - OXIDIZING"
    assert any("TOXIC; may be fatal if inhaled" in h for h in card["guide"]["hazards"])
    assert all(card["guide"][k] for k in ("hazards", "public_safety", "fire", "spill", "first_aid"))
    assert inside_ids(card) == {"浙B20771", "浙B30772"}  # the leaking one is the centre; 2.5 km is out
    by_id = {i["id"]: i for i in card["inside"]}
    assert 240 < by_id["浙B20771"]["distance_m"] < 260 and by_id["浙B20771"]["zone"] == "protective"
    assert 690 < by_id["浙B30772"]["distance_m"] < 710
    assert by_id["浙B20771"]["cargo"]["un"] == "UN1077"
    assert {i["plate"] for i in card["inside"] if i["kind"] in ("device", "person")} == {"浙B20771", "浙B30772"}
    assert {c["kind"]: c["radius_m"] for c in card["circles"]} == {
        "isolation": 60,
        "protective": 1100,
        "fire_isolation": 800,
    }

    # At 11:00 the same leak: day distances, and the tanker 700 m away is outside the radius.
    day = api.get(f"/api/v1/alerts/{body['alert_id']}/response", params={"at": next_local(11).isoformat()}).json()
    assert day["is_night"] is False and "day" in day["night_basis"]
    assert (day["isolation_m"], day["protective_m"]) == (60, 300)
    assert inside_ids(day) == {"浙B20771"}

    # A large spill from a road tanker: ERG refers chlorine to Table 3 (highway tank truck).
    large = api.get(
        f"/api/v1/alerts/{body['alert_id']}/response", params={"at": next_local(23).isoformat(), "spill": "large"}
    ).json()
    assert (large["isolation_m"], large["protective_m"]) == (600, 6700)
    assert large["distance_source"] == "table3_highway_tank_truck_low_wind"
    assert inside_ids(large) == {"浙B20771", "浙B30772", "浙B40773"}


def test_a_substance_the_tables_do_not_map_gets_its_card_from_the_park_catalogue(
    settings, alerts, make_sensor, make_rule, subscribe, webhook, api, tmp_path: Path, monkeypatch, capsys
):
    park = Park(settings, make_sensor, f"pc{random.randrange(10**6)}")
    park.tankers({"浙B12030": ("UN1203", "汽油", "3"), "浙B19930": ("UN1993", "易燃液体", "3")})
    park.place("浙B12030")
    park.place("浙B19930", north_m=30)
    park.wait_positions()
    make_rule(**leak_rule(park.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=park.site)
    alerts.wait_in_force()

    # Gasoline is not in ERG's table; the park's catalogue maps it to guide 128.
    catalogue = tmp_path / "substances.csv"
    catalogue.write_text(
        "un,name_zh,name_en,class,erg_guide,site,zones,max_quantity_kg,notes\n"
        f"UN1203,汽油,Gasoline,3,128,{park.site},T1;T2,500000,储罐区\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HAZGATE_DATABASE_URL", settings.db_url)
    assert main(["substances", "import", str(catalogue), "--json"]) == 0
    imported = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert imported["imported"] == {"substances": 1, "zone_entries": 2}

    substance = api.get("/api/v1/substances/1203").json()
    assert substance["name_zh"] == "汽油" and substance["erg_guide"] == 128 and substance["class"] == "3"
    assert substance["isolation_m"] == {"small": 50, "large": 300} and substance["tih"] is False
    assert {z["zone_id"] for z in substance["stored_in"]} == {"T1", "T2"}

    gasoline = fire_leak(make_sensor, park.site, "浙B12030", webhook)
    card = api.get(f"/api/v1/alerts/{gasoline['alert_id']}/response").json()
    assert card["erg_guide"] == 128 and card["guide_title"] == "FLAMMABLE LIQUIDS (WATER-IMMISCIBLE)"
    assert card["substance"]["name_zh"] == "汽油" and card["isolation_m"] == 50 and card["protective_m"] is None
    assert card["distance_source"] == "guide" and inside_ids(card) == {"浙B19930"}

    # UN1993 is in the UN list but neither ERG's table nor the park maps it: the card says so.
    unknown = fire_leak(make_sensor, park.site, "浙B19930", webhook)
    card = api.get(f"/api/v1/alerts/{unknown['alert_id']}/response").json()
    assert card["erg_guide"] is None and card["guide"] is None and card["radius_m"] is None
    assert card["substance"]["name_zh"] == "易燃液体"
    assert any(n.startswith("No ERG guide is known for UN1993") and "guide 111" in n for n in card["notes"])
    assert unknown["response"]["erg_guide"] is None  # the webhook says the same


def test_substance_and_card_errors_say_what_is_wrong(api, settings, make_sensor):
    assert api.get("/api/v1/substances/UN1017").json()["protective_m"] == {
        "small_day": 300,
        "small_night": 1100,
        "large_day": None,
        "large_night": None,
    }
    assert api.get("/api/v1/substances/UN99X").json()["error"]["code"] == "invalid_un"
    missing = api.get("/api/v1/substances/UN0000")
    assert missing.status_code == 422
    unknown = api.get("/api/v1/substances/UN3999")
    assert unknown.status_code == 404 and "hazgate substances import" in unknown.json()["error"]["message"]
    assert api.get(f"/api/v1/alerts/{'0' * 8}-0000-0000-0000-{'0' * 12}/response").status_code == 404


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        ("un,name_zh\nUN12,汽油\n", "line 2, un"),
        ("un,erg_guide\nUN1203,99\n", "not an ERG 2016 guide"),
        ("un,zones\nUN1203,T1\n", "fill in 'site'"),
        ("un,colour\nUN1203,red\n", "unknown columns ['colour']"),
        ("un,name_zh\nUN1203,汽油\nUN1203,柴油\n", "line 3, name_zh"),
    ],
)
def test_a_bad_park_catalogue_is_refused_whole_naming_the_line(
    settings, tmp_path: Path, monkeypatch, capsys, csv_text, expected
):
    path = tmp_path / "bad.csv"
    path.write_text(csv_text, encoding="utf-8")
    monkeypatch.setenv("HAZGATE_DATABASE_URL", settings.db_url)
    with pytest.raises(SystemExit):
        main(["substances", "import", str(path), "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["error"] == "import_refused" and expected in out["message"]


def import_catalogue(settings, monkeypatch, capsys, tmp_path: Path, rows: str) -> None:
    catalogue = tmp_path / "substances.csv"
    catalogue.write_text(
        "un,name_zh,name_en,class,erg_guide,site,zones,max_quantity_kg,notes\n" + rows, encoding="utf-8"
    )
    monkeypatch.setenv("HAZGATE_DATABASE_URL", settings.db_url)
    assert main(["substances", "import", str(catalogue), "--json"]) == 0
    capsys.readouterr()


def test_a_gas_leak_in_the_tank_farm_gets_the_card_of_what_the_farm_stores_centred_on_it(
    settings, alerts, make_sensor, make_rule, api, tmp_path: Path, monkeypatch, capsys
):
    site = f"tf{random.randrange(10**6)}"
    import_layout(settings.db_url, demo_layout(site), imported_by="tests")
    import_catalogue(settings, monkeypatch, capsys, tmp_path, f"UN1017,液氯,Chlorine,2.3,,{site},tank-farm,50000,\n")
    detector = make_sensor("gas_detector", site=site, zone="tank-farm")  # hazgate devices add --zone tank-farm
    rule = make_rule(
        name="罐区可燃气体二级报警",
        kind="threshold",
        metric="gas_lel_pct",
        op=">=",
        value=50,
        severity="critical",
        site=site,
    )
    alerts.wait_in_force()

    detector.send(detector.reading({"gas_ppm": 12000.0, "gas_lel_pct": 60.0}))
    alert = wait_until(
        lambda: [a for a in api.get("/api/v1/alerts", params={"state": "open"}).json() if a["rule_id"] == rule["id"]],
        30,
    )[0]
    card = api.get(f"/api/v1/alerts/{alert['alert_id']}/response").json()
    assert card["un"] == "UN1017" and card["erg_guide"] == 124
    assert card["center"]["source"] == "zone:tank-farm"
    # The layout's three assembly points: those outside the radius first (where to send people),
    # nearest first; one inside the radius is marked so, not to be used.
    points = card["assembly_points"]
    assert {p["id"] for p in points} == {"assembly-1", "assembly-2", "assembly-3"}
    order = [(p["inside_radius"], p["distance_m"]) for p in points]
    assert order == sorted(order)
    assert all(p["inside_radius"] == (p["distance_m"] <= card["radius_m"]) for p in points)
    # Zones of the layout near the farm are listed as inside the radius (the farm's own road).
    assert "tankfarm-road" in inside_ids(card, "zone")


def test_the_card_follows_the_waybill_the_tanker_entered_with(
    settings, alerts, make_sensor, make_rule, webhook, subscribe, api
):
    park = Park(settings, make_sensor, f"vw{random.randrange(10**6)}")
    park.tankers({"浙B10050": ("UN1005", "液氨", "2.3")})
    entered_with = park_waybill(settings, "浙B10050")
    # A newer waybill for the same truck, filed after it entered: the card must not switch cargo.
    newer = waybill("浙B10050", "UN1077", "丙烯", "2.1", park.rng, valid_from=datetime.now(UTC).isoformat())
    write_registry(settings.db_url, {"waybills": [newer]})
    with psycopg.connect(settings.db_url) as conn:
        visit_id = uuid.uuid4()
        stays_store.insert_visit(
            conn,
            visit_id=visit_id,
            site=park.site,
            plate="浙B10050",
            state=VisitState.QUEUED,
            booking_id=None,
            waybill_no=None,
        )
        stays_store.visit_entered(conn, visit_id, uuid.uuid4(), datetime.now(UTC) - timedelta(hours=1), entered_with)
    park.place("浙B10050")
    park.wait_positions()
    make_rule(**leak_rule(park.site))
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=park.site)
    alerts.wait_in_force()

    body = fire_leak(make_sensor, park.site, "浙B10050", webhook)
    assert body["response"]["un"] == "UN1005" and body["response"]["erg_guide"] == 125


def park_waybill(settings, plate: str) -> str:
    with psycopg.connect(settings.db_url) as conn:
        row = conn.execute("SELECT waybill_no FROM waybills WHERE plate = %s", (plate,)).fetchone()
    assert row is not None
    return str(row[0])
