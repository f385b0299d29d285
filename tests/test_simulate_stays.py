"""The simulator's whole stays: a seeded plan and route (pure), and one tanker's stay driven through
the session's gateway from booking to the exit gate."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime

import psycopg

from devices.registry import add_device
from hazgate.simulate.demo_layout import CENTRE_LAT, CENTRE_LON
from hazgate.simulate.park import build_park, registry_document
from hazgate.simulate.photos import default_faces_dir
from hazgate.simulate.runner import Simulator, assign_photos
from hazgate.simulate.stays import StayRoute, StayRunner, plan_stay, position
from registry.importer import import_registry
from stays import store
from tests.fixtures.mqtt import sync_broker_accounts, wait_until


def test_stay_plans_are_seeded_and_now_and_then_overstay_or_leave_overweight() -> None:
    plans = [plan_stay(random.Random(7)) for _ in range(2)]
    assert plans[0] == plans[1]
    many = [plan_stay(random.Random(n)) for n in range(400)]
    overstays = sum(p.overstay for p in many)
    overweight = sum(p.overweight_kg > 0 for p in many)
    assert 20 < overstays < 90 and 35 < overweight < 110
    assert all(p.fill_s > 500 for p in many if p.overstay)


def test_a_stay_drives_the_park_s_roads_from_gate_1_to_a_filling_bay_and_out_through_gate_2() -> None:
    rng = random.Random(1)
    route = StayRoute.for_bay(2)
    start, bay, end = (
        position(route, "in", 0.0, rng),
        position(route, "bay", 0.5, rng),
        position(route, "out", 1.0, rng),
    )
    assert bay["speed_kmh"] < 2.0, "standing at the bay"
    assert abs(position(route, "in", 1.0, rng)["lat"] - bay["lat"]) < 1e-4, "the drive in ends at the bay"
    assert len({(p["lat"], p["lon"]) for p in (start, bay, end)}) == 3
    assert all(abs(p["lat"] - CENTRE_LAT) < 0.02 and abs(p["lon"] - CENTRE_LON) < 0.02 for p in (start, bay, end))
    assert max(position(route, "in", f / 20, rng)["speed_kmh"] for f in range(21)) < 25, "within the roads' limits"


def test_the_simulator_drives_a_whole_stay_to_closed(gateway, gateway_settings, settings, local_services) -> None:
    site = f"sim{uuid.uuid4().hex[:6]}"
    park = build_park(3, gates=1, tankers=1, site=site)
    photos = assign_photos(park, default_faces_dir())
    paths = {k: (str(a), str(b)) for k, (a, b) in photos.people.items()}
    import_registry(
        settings.db_url,
        registry_document(park, datetime.now(UTC), paths),
        base_dir=default_faces_dir(),
        faces=settings.faces,
        progress=lambda _t: None,
    )
    stays = StayRunner.for_park(gateway_settings, park)
    stays.drive_s, stays.fill_s, stays.lot_wait_s, stays.reweigh_after_s = 2.0, 2.0, (1.0, 1.0), (3.0, 3.0)
    # Registered as `hazgate simulate` does, but the broker accounts go to this session's broker.
    with psycopg.connect(settings.db_url) as conn:
        passwords = {
            d.device_id: add_device(conn, d.site, d.device_id, d.type, d.gate_id, d.plate).password
            for d in park.devices + stays.devices
        }
    sync_broker_accounts(settings, local_services)
    sim = Simulator(gateway_settings, park, passwords, interval_s=1.0, arrival_every_s=600.0, photos=photos)
    stays.attach(sim)
    runner = threading.Thread(target=sim.run, args=(150.0,), daemon=True)
    runner.start()
    plate = park.tankers[0].plate
    try:
        with psycopg.connect(settings.db_url, autocommit=True) as conn:

            def closed():
                found = store.list_visits(conn, site, "closed", plate, 1)
                return found[0] if found else None

            visit = wait_until(closed, 150, 1.0)
            kinds = [e.kind for e in store.timeline(conn, visit.id)]
        assert visit.close_reason == "exit"
        for kind in ("booked", "approved", "queued", "entered", "waybill_closed", "exit_inspection", "exited"):
            assert kind in kinds, kinds
    finally:
        sim.stop.set()
        runner.join(15)
