"""The live stream's pure parts: what broker messages become, and telemetry coalescing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from api.live_feed import Coalescer, decision_event, plausible_values, status_event, telemetry_readings
from api.passwords import hash_password, needs_rehash, verify_password
from api.ratelimit import RateLimiter


def test_a_decision_becomes_an_inspection_event_of_its_gate():
    body = {"inspection_id": "i1", "plate": "浙B12345", "result": "pending", "checks": [], "site": "forged"}
    event = decision_event("park1", "g1", json.dumps(body).encode())
    assert event is not None and event.topic == "inspections" and event.event == "inspection"
    assert (event.data["site"], event.data["gate_id"]) == ("park1", "g1"), "the topic, not the payload, says where"
    assert decision_event("park1", "g1", b"not json") is None
    assert decision_event("park1", "g1", b'{"result": "pass"}') is None


def test_a_status_message_becomes_a_device_event():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    event = status_event("park1", "d1", b'{"state": "offline"}', at)
    assert event is not None and event.data == {
        "device_id": "d1",
        "site": "park1",
        "state": "offline",
        "at": at.isoformat(),
    }
    assert status_event("park1", "d1", b'{"state": "asleep"}', at) is None


def test_only_plausible_readings_reach_the_browser():
    assert plausible_values({"tank_pressure_kpa": 812.5, "tank_level_pct": 120, "nope": 1, "battery_pct": True}) == {
        "tank_pressure_kpa": 812.5
    }
    payload = json.dumps(
        [
            {"ts": "2026-01-01T00:00:01Z", "seq": 1, "values": {"gas_ppm": 3}},
            {"ts": "2026-01-01T00:00:02Z", "seq": 2, "values": {"gas_ppm": float("nan")}},
            {"seq": 3, "values": {"gas_ppm": 4}},
        ]
    ).encode()
    assert telemetry_readings(payload) == [("2026-01-01T00:00:01Z", {"gas_ppm": 3.0})]


def test_telemetry_is_coalesced_per_device_between_flushes():
    c = Coalescer()
    c.add("d1", "s", "2026-01-01T00:00:01Z", {"tank_pressure_kpa": 800.0, "battery_pct": 90.0})
    c.add("d1", "s", "2026-01-01T00:00:02Z", {"tank_pressure_kpa": 950.0})
    c.add("d2", "s", "2026-01-01T00:00:02Z", {"gas_ppm": 5.0})
    events = {e.data["device_id"]: e.data for e in c.flush()}
    assert events["d1"]["values"] == {"tank_pressure_kpa": 950.0, "battery_pct": 90.0}
    assert [r["values"]["tank_pressure_kpa"] for r in events["d1"]["readings"]] == [800.0, 950.0]
    assert c.flush() == [], "a flush empties it"


def test_passwords_are_scrypt_hashes_that_verify_only_the_right_password():
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and not needs_rehash(stored)
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert not verify_password("anything", None)
    assert not verify_password("anything", "md5$abc")
    assert hash_password("correct horse battery") != stored, "salted"


def test_the_rate_limiter_slides_its_window():
    now = [0.0]
    limiter = RateLimiter(2, 10.0, clock=lambda: now[0])
    assert limiter.hit("k") is None and limiter.hit("k") is None
    assert limiter.hit("k") == 10
    now[0] = 9.5
    assert limiter.hit("k") == 1
    now[0] = 10.5
    assert limiter.hit("k") is None, "the first use left the window"
    assert limiter.hit("other") is None
    limiter.reset("k")
    assert limiter.retry_after("k") is None


def test_with_the_gateway_in_process_stored_readings_feed_the_stream_only_while_watched():
    from datetime import UTC, datetime

    from api.live import LiveBridge
    from api.stream import Broadcaster
    from gateway.router import StoredBatch
    from gateway.validate import Row
    from tests.fixtures.services import make_settings

    bridge = LiveBridge(make_settings(), Broadcaster(), gateway=None)
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    batch = StoredBatch([Row(ts, ts.isoformat(), "d1", 1, "s1", {"gas_ppm": 4.0})], {}, {})
    bridge.on_stored(batch)
    assert bridge.coalescer.flush() == [], "nobody watches: nothing is kept"
    bridge._watchers = 1
    bridge.on_stored(batch)
    (event,) = bridge.coalescer.flush()
    assert event.data["device_id"] == "d1" and event.data["values"] == {"gas_ppm": 4.0}
