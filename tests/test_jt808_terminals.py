"""JT/T 808 terminals over real TCP against the session gateway's listener and the real database.

Each story provisions its own tracker (``hazgate devices add ... --jt808-phone``) and talks to
the listener as a terminal does: register, authenticate, report, and worse.
"""

from __future__ import annotations

import random
import socket
import struct
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
import pytest

from devices import registry
from gateway.jt808.protocol import (
    Endpoint,
    Header,
    Heartbeat,
    LocationBatch,
    MsgId,
    PlatformResponse,
    RegisterResponse,
    Version,
    encode_frame,
    escape,
    make_location,
    unescape,
)
from gateway.service import GatewayService
from hazgate.settings import Settings
from hazgate.simulate.jt808_terminal import Terminal
from tests.fixtures.mqtt import wait_until

PARK = (29.958, 121.712)


def new_phone() -> str:
    return f"139{random.randrange(10**8):08d}"


class Tracker:
    """A provisioned JT/T 808 tracker: its device, phone, auth code and a terminal to speak with."""

    def __init__(self, settings: Settings, port: int, version: Version, plate: str | None, phone: str | None = None):
        self.site = f"site{uuid.uuid4().hex[:6]}"
        self.device_id = f"jt-{uuid.uuid4().hex[:8]}"
        self.phone = phone or new_phone()
        with psycopg.connect(settings.db_url) as conn:
            made = registry.add_device(
                conn, self.site, self.device_id, "gps_tracker", None, plate, jt808_phone=self.phone
            )
        assert made.jt808_auth_code is not None and made.jt808_phone == self.phone
        self.auth_code = made.jt808_auth_code
        self.terminal = Terminal("127.0.0.1", port, self.phone, version, plate=plate or "")

    def close(self) -> None:
        self.terminal.close()


@pytest.fixture
def make_tracker(gateway: GatewayService, settings: Settings) -> Iterator[Callable[..., Tracker]]:
    assert gateway.jt808 is not None
    port = gateway.jt808.port
    made: list[Tracker] = []

    def make(version: Version = Version.V2013, plate: str | None = None) -> Tracker:
        tracker = Tracker(settings, port, version, plate)
        made.append(tracker)
        return tracker

    yield make
    for tracker in made:
        tracker.close()


def stored(db: psycopg.Connection, device_id: str) -> list[tuple[datetime, dict[str, Any]]]:
    return db.execute('SELECT ts, "values" FROM telemetry WHERE device_id = %s ORDER BY ts', (device_id,)).fetchall()


def refusals(api: Any, reason: str, phone: str) -> list[dict[str, Any]]:
    rows = api.get("/api/v1/rejected", params={"reason": reason, "limit": 1000}).json()
    return [r for r in rows if r["source"] == "jt808" and phone in (r["topic"] or "")]


def recent(seconds_ago: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)


@pytest.mark.parametrize("version", [Version.V2013, Version.V2019])
def test_tracker_registers_authenticates_and_its_positions_are_stored_and_served(make_tracker, db, api, version):
    tracker = make_tracker(version, plate="浙B12345")
    terminal = tracker.terminal.connect()
    registered = terminal.register()
    assert registered == RegisterResponse(registered.reply_serial, 0, tracker.auth_code)
    assert terminal.authenticate().result == 0

    route = [(round(PARK[0] + k * 0.001, 6), round(PARK[1] - k * 0.001, 6)) for k in range(3)]
    for k, (lat, lon) in enumerate(route):
        answer = terminal.report(
            make_location(recent(30 - k), lat, lon, speed_kmh=42.5, heading_deg=270, altitude_m=8, mileage_km=1000 + k)
        )
        assert answer.result == 0
        # The answer comes after the commit: the reading is there the moment it is acknowledged.
        assert len(stored(db, tracker.device_id)) == k + 1

    rows = stored(db, tracker.device_id)
    assert [(v["lat"], v["lon"]) for _, v in rows] == route
    assert rows[0][1] == {
        "lat": route[0][0],
        "lon": route[0][1],
        "speed_kmh": 42.5,
        "heading_deg": 270.0,
        "altitude_m": 8.0,
        "alarm_flags": 0.0,
        "mileage_km": 1000.0,
    }
    served = api.get(f"/api/v1/devices/{tracker.device_id}/telemetry", params={"metric": "lat"}).json()
    assert [p["value"] for p in served["points"]] == [lat for lat, _ in route]
    device = next(d for d in api.get("/api/v1/devices", params={"site": tracker.site}).json())
    assert device["state"] == "online" and device["status"] == "online"


def test_unknown_phone_is_refused_with_result_4_and_recorded(gateway, api):
    phone = new_phone()
    with Terminal("127.0.0.1", gateway.jt808.port, phone) as terminal:
        answer = terminal.register()
        assert answer.result == 4 and answer.auth_code == ""
        assert terminal.authenticate("guessed-code").result == 1
    recorded = wait_until(
        lambda: len(refusals(api, "unknown_terminal", phone)) == 2 and refusals(api, "unknown_terminal", phone), 10
    )
    by_message = {r["topic"]: r["detail"] for r in recorded}
    assert set(by_message) == {f"jt808/{phone}/0x0100", f"jt808/{phone}/0x0102"}
    assert "not provisioned" in by_message[f"jt808/{phone}/0x0100"]
    assert "0x8100 result 4" in by_message[f"jt808/{phone}/0x0100"]


def test_a_wrong_plate_or_a_wrong_auth_code_is_refused(make_tracker, api):
    tracker = make_tracker(plate="浙B12345")
    tracker.terminal.plate = "沪A99999"
    with tracker.terminal as terminal:
        assert terminal.register().result == 2  # no such vehicle
        assert terminal.authenticate("not-the-code").result == 1
        assert terminal.authenticate(tracker.auth_code).result == 0  # the provisioned code works
    assert wait_until(lambda: refusals(api, "plate_mismatch", tracker.phone), 10)
    assert wait_until(lambda: refusals(api, "auth_failed", tracker.phone), 10)


def test_connection_lost_mid_batch_loses_nothing_acknowledged_and_stores_nothing_twice(make_tracker, db):
    tracker = make_tracker()
    terminal = tracker.terminal.start()
    reports = [make_location(recent(60 - k), PARK[0], PARK[1] + k * 1e-4) for k in range(12)]
    serials = [terminal.send(r) for r in reports]  # pipelined, as a terminal catching up does
    acknowledged = []
    for serial in serials[:5]:
        answer = terminal.answer_to(serial)
        assert isinstance(answer, PlatformResponse) and answer.result == 0
        acknowledged.append(reports[serials.index(serial)])
    # The link drops hard (RST) with answers still on their way.
    terminal.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    terminal.close()

    rows = stored(db, tracker.device_id)
    times = {ts for ts, _ in rows}
    assert all(r.time in times for r in acknowledged)  # nothing acknowledged is lost

    # The terminal comes back and sends everything again, acknowledged or not, and as a batch.
    terminal.start()
    for report in reports[:6]:
        assert terminal.report(report).result == 0
    assert terminal.report(LocationBatch(1, tuple(reports[6:]))).result == 0
    rows = stored(db, tracker.device_id)
    assert [ts for ts, _ in rows] == [r.time for r in reports]  # each once
    assert len(rows) == len(reports)


def test_sos_press_raises_a_critical_alert_delivered_to_the_webhook(
    make_tracker, alerts, make_rule, subscribe, webhook
):
    tracker = make_tracker(Version.V2019)
    rule = make_rule(name="SOS", kind="flag", metric="alarm_flags", bit=0, severity="critical", site=tracker.site)
    subscribe(channel="webhook", url=webhook.url, secret=webhook.secret, site=tracker.site)
    alerts.wait_in_force()
    terminal = tracker.terminal.start()
    assert terminal.report(make_location(recent(3), *PARK)).result == 0
    assert terminal.report(make_location(recent(2), *PARK, alarm=1 | 1 << 1)).result == 0  # SOS + over-speed

    def firing() -> list[Any]:
        return [d for d in webhook.accepted() if d.body.get("device_id") == tracker.device_id]

    delivery = wait_until(firing, 30)[0]
    assert delivery.signature_ok
    body = delivery.body
    assert (body["state"], body["severity"], body["rule_id"]) == ("firing", "critical", rule["id"])
    assert (body["metric"], body["value"]) == ("alarm_flags", 3)


def test_broken_frames_are_recorded_and_the_connection_stays_up(make_tracker, api):
    tracker = make_tracker()
    terminal = tracker.terminal.connect()
    phone = tracker.phone
    ep = Endpoint(terminal.endpoint.phone)

    # A report before authentication: answered with failure and recorded, nothing stored.
    assert terminal.report(make_location(recent(5), *PARK)).result == 1
    good = ep.frame(Heartbeat())
    # The check code corrupted before escaping: flipping a bit of the escaped frame could turn
    # it into 0x7d/0x7e (a bad escape, or a frame cut short) for some phones and serials.
    content = unescape(good[1:-1])
    bad_check = b"\x7e" + escape(content[:-1] + bytes([content[-1] ^ 0x01])) + b"\x7e"
    terminal.send_raw(bad_check)  # dropped without an answer
    terminal.send_raw(good[:3] + b"\x7d\x03" + good[3:])  # bad escape: dropped
    terminal.send_raw(ep.frame(Heartbeat())[:8] + b"\x7e")  # truncated: dropped
    unknown = encode_frame(Header(0x0900, terminal.endpoint.phone, 900), b"\x01")
    terminal.send_raw(unknown)
    assert terminal.answer_to(900) == PlatformResponse(900, 0x0900, 3)  # not supported
    short = encode_frame(Header(MsgId.LOCATION, terminal.endpoint.phone, 901), b"\x00" * 10)
    terminal.send_raw(short)
    assert terminal.answer_to(901) == PlatformResponse(901, MsgId.LOCATION, 2)  # message error
    # Still the same connection, still served.
    assert terminal.heartbeat().result == 0
    assert terminal.register().result == 0 and terminal.authenticate().result == 0

    for reason in ("not_authenticated", "bad_check_code", "bad_escape", "truncated", "unknown_message"):
        assert wait_until(partial(refusals, api, reason, phone), 10), reason
    assert wait_until(lambda: refusals(api, "body_too_short", phone), 10)[0]["topic"] == f"jt808/{phone}/0x0200"


def test_a_flooding_connection_is_recorded_and_closed_while_other_terminals_carry_on(make_tracker, api, db):
    flooder, steady = make_tracker(), make_tracker()
    steady.terminal.start()
    flood = flooder.terminal.connect()
    frames = b"".join(flood.endpoint.frame(Heartbeat()) for _ in range(400))  # burst allowance is 100
    with pytest.raises((EOFError, ConnectionError)):
        flood.send_raw(frames)
        while True:
            flood.receive(10)
    assert steady.terminal.report(make_location(recent(1), *PARK)).result == 0
    assert len(stored(db, steady.device_id)) == 1
    recorded = wait_until(lambda: refusals(api, "flood", flooder.phone), 10)
    assert "frames/s" in recorded[0]["detail"]


def test_simulated_park_runs_part_of_its_fleet_as_jt808_terminals(gateway, settings, local_services, db):
    from hazgate.simulate.park import build_park
    from hazgate.simulate.runner import Simulator, ensure_jt808
    from tests.fixtures.mqtt import sync_broker_accounts
    from tests.fixtures.services import make_settings

    park = build_park(random.randrange(10_000), gates=0, tankers=2, detectors=0, site=f"sim{uuid.uuid4().hex[:6]}")
    with psycopg.connect(settings.db_url) as conn:
        passwords = {
            d.device_id: registry.add_device(conn, d.site, d.device_id, d.type, d.gate_id, d.plate).password
            for d in park.devices
        }
    sync_broker_accounts(settings, local_services)
    phones = ensure_jt808(settings, park, 1)
    jt808_tracker, mqtt_tracker = park.tankers[0].gps.device_id, park.tankers[1].gps.device_id
    assert list(phones) == [jt808_tracker]
    sim_settings = make_settings(database_url=settings.db_url, jt808={"port": gateway.jt808.port})
    sim = Simulator(
        sim_settings, park, passwords, interval_s=1.0, arrival_every_s=1e9, photos=None, jt808_phones=phones
    )
    result = sim.run(duration_s=3.5)
    assert result["jt808_terminals"] == 1 and sim.jt808_failures == 0
    assert len(stored(db, jt808_tracker)) >= 3  # acknowledged, so already stored
    assert set(stored(db, jt808_tracker)[0][1]) >= {"lat", "lon", "speed_kmh", "alarm_flags"}
    wait_until(lambda: stored(db, mqtt_tracker), 20)  # the rest of the fleet still on MQTT
