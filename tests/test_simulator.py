"""The simulated park shows what hazgate is for: one arrival in four has trouble at the gate, the
tanks and detectors misbehave now and then, and with the default rules all of it raises alerts."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest

from alerts.defaults import default_rule_id
from hazgate.data import faces_dir
from hazgate.rules import install_default_rules
from hazgate.simulate.park import (
    RATED_LOAD_KG,
    REASON,
    REGISTRY_TROUBLES,
    TARE_KG,
    Anomalies,
    ArrivalPlan,
    Trouble,
    build_park,
    gas_reading,
    registry_document,
    tank_reading,
)
from hazgate.simulate.photos import identities
from hazgate.simulate.runner import Simulator, assign_photos, register_devices
from registry import validate_registry
from registry.importer import import_registry
from tests.fixtures.mqtt import sync_broker_accounts, wait_until

FIVE_MINUTES_S = 300.0


def test_one_arrival_in_four_has_trouble_and_every_kind_shows_within_twenty() -> None:
    park = build_park(7, gates=2, tankers=6)
    plan = ArrivalPlan(park, seed=7)
    arrivals = [plan.next() for _ in range(40)]
    for start in range(0, 40, 4):
        assert sum(a.trouble is not None for a in arrivals[start : start + 4]) == 1
    assert set(Counter(a.trouble for a in arrivals[:20] if a.trouble)) == set(Trouble)
    again = ArrivalPlan(build_park(7, gates=2, tankers=6), seed=7)
    assert [(a.tanker.plate, a.trouble) for a in arrivals] == [
        (b.tanker.plate, b.trouble) for b in (again.next() for _ in range(40))
    ]


def test_each_planned_trouble_is_what_the_gate_will_refuse() -> None:
    park = build_park(3, gates=1, tankers=4)
    plan = ArrivalPlan(park, seed=3)
    for a in (plan.next() for _ in range(40)):
        if a.trouble is None:
            assert a.tanker.defect is None and a.waybill_no == a.tanker.waybill_no and a.impostor is None
            assert a.gross_kg - TARE_KG <= RATED_LOAD_KG
        elif a.trouble in REGISTRY_TROUBLES:
            assert a.tanker.defect is a.trouble
        elif a.trouble is Trouble.OVER_RATED_LOAD:
            assert a.gross_kg - TARE_KG > RATED_LOAD_KG
        elif a.trouble is Trouble.WAYBILL_OF_ANOTHER_TRUCK:
            assert a.waybill_no != a.tanker.waybill_no
        else:
            assert a.impostor == "driver"
        assert a.tanker.defect in (None, a.trouble), "a tanker with a defect comes only when its trouble is drawn"


def test_the_registry_carries_the_defective_tankers_and_warns_about_them() -> None:
    park = build_park(1, gates=2, tankers=6)
    assert len(park.tankers) == 6 + len(REGISTRY_TROUBLES)
    photos = assign_photos(park, faces_dir())
    doc = registry_document(park, datetime.now(UTC), {k: (str(a), str(b)) for k, (a, b) in photos.people.items()})
    registry, problems = validate_registry(doc, today=date.today())
    assert not [p for p in problems if p.severity == "error"]
    expired = park.defective(Trouble.EXPIRED_TANK_INSPECTION)
    assert expired is not None
    tank = next(v.tank for v in registry.vehicles if v.plate == expired.plate)
    assert tank.inspection_expires < date.today()
    wrong_cargo = park.defective(Trouble.CARGO_NOT_PERMITTED)
    assert wrong_cargo is not None
    assert any(p.key == wrong_cargo.waybill_no and "not a permitted medium" in p.message for p in problems)


def test_the_crews_are_the_london_people_with_their_own_two_photos() -> None:
    park = build_park(1, gates=2, tankers=6)
    photos = assign_photos(park, faces_dir())
    people = [p for t in park.tankers for p in (t.driver_id, t.escort_id)]
    assert len({photos.people[p][0].parent for p in people}) == len(people), "one real person per crew member"
    for card, live in photos.people.values():
        assert card.parent.name.startswith("london_") and card.name.endswith("_1.jpg") and live.name.endswith("_2.jpg")
    assert photos.strangers and all(
        s.parent not in {c.parent for c, _ in photos.people.values()} for s in photos.strangers
    )
    assert "noface" not in {i.name for i in identities(faces_dir())}, "a landscape never plays a driver"


def test_every_telemetry_anomaly_happens_in_the_first_five_minutes_and_again_later() -> None:
    import random

    park = build_park(1, gates=2, tankers=6)
    rng = random.Random(0)
    assert park.anomalies.cycle_s is not None
    for later in (0.0, park.anomalies.cycle_s):
        seconds = [later + t for t in range(int(FIVE_MINUTES_S))]
        leak = next(d for d in park.detectors if d.device_id == park.anomalies.leaks[0][0])
        lel = [v["gas_lel_pct"] for t in seconds if (v := gas_reading(park, leak, t, rng))]
        assert max(lel) >= 50, "past the second alarm of GB/T 50493"
        quiet = next(d for d in park.detectors if d.device_id == park.anomalies.silences[0][0])
        silent = [t for t in seconds if gas_reading(park, quiet, t, rng) is None]
        assert silent and silent[0] + 120 < later + FIVE_MINUTES_S, "silent long enough for the absence rule"
        victim = next(t for t in park.tankers if t.sensor.device_id == park.anomalies.pressure_excursions[0][0])
        high = [t for t in seconds if tank_reading(park, victim, t, rng)["tank_pressure_kpa"] > 1800]
        assert len(high) >= 20, "over the default over-pressure rule for longer than its 10 s"


# ---- the whole park against the real services -------------------------------------------------------


def _failed_inspections(db: psycopg.Connection, site: str) -> list[tuple[str, list[Any]]]:
    return db.execute(
        "SELECT plate, checks FROM inspections WHERE site = %s AND result = 'fail' AND decided_at IS NOT NULL", (site,)
    ).fetchall()


def _raised(db: psycopg.Connection, site: str) -> dict[str, str]:
    return dict(db.execute("SELECT rule_id, state FROM alerts WHERE site = %s", (site,)).fetchall())


@pytest.fixture
def park_site(db: psycopg.Connection):
    site = f"sim{uuid.uuid4().hex[:6]}"
    yield site
    db.execute(
        "UPDATE alert_rules SET deleted_at = now(), deleted_by = 'tests', enabled = false WHERE body->>'site' = %s",
        (site,),
    )


def test_the_simulated_park_shows_a_failed_inspection_and_a_firing_alert(
    gateway, gateway_settings, alerts, settings, local_services, db, park_site
):
    park = build_park(11, gates=2, tankers=1, detectors=2, site=park_site)
    leak = park.detectors[0].device_id
    park.anomalies = Anomalies(leaks=[(leak, 2.0, 40.0)], cycle_s=None)
    photos = assign_photos(park, faces_dir())
    doc = registry_document(park, datetime.now(UTC), {k: (str(a), str(b)) for k, (a, b) in photos.people.items()})
    import_registry(settings.db_url, doc, base_dir=faces_dir(), faces=settings.faces, strict=True, progress=print)
    with psycopg.connect(settings.db_url) as conn:
        install_default_rules(conn, park_site, created_by="tests")
        passwords = register_devices(conn, park, {})
    sync_broker_accounts(settings, local_services)
    alerts.wait_in_force()  # gate decisions reach evaluation as alert inputs, stored with them
    sim = Simulator(
        gateway_settings, park, passwords, interval_s=1.0, arrival_every_s=8.0, photos=photos, first_arrival_s=1.0
    )
    # Usually done in about 25 s; the limits are generous for a loaded machine whose face workers
    # may still be loading their models (the test stops the simulator as soon as it has seen both).
    runner = threading.Thread(target=sim.run, args=(120.0,), daemon=True)
    runner.start()
    try:
        failed = wait_until(lambda: _failed_inspections(db, park_site), timeout_s=100, interval_s=0.5)
        wanted = {
            str(default_rule_id(park_site, key))
            for key in ("gate-check-failed", "gas-lel-first-alarm", "gas-lel-second-alarm")
        }
        raised = wait_until(lambda: (r := _raised(db, park_site)) and wanted <= set(r) and r, 30, 0.5)
    finally:
        sim.stop.set()
        runner.join(15)

    troubles = {REASON[a.trouble] for a in sim.planned if a.trouble is not None}
    reasons = {r["code"] for _, checks in failed for c in checks for r in c["reasons"] if r["status"] == "fail"}
    assert reasons & troubles, (reasons, troubles)
    assert all(r["message"] and r["message_zh"] for _, checks in failed for c in checks for r in c["reasons"])
    assert "firing" in raised.values()
