"""More than one gateway: distinct client ids without configuration, the load split, no flapping.

Issue 10: a second `hazgate serve` with default settings used the same client id as the first;
the broker dropped one whenever the other connected, for as long as both ran.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.client_id import claim_client_id, host_label
from gateway.mqtt_client import forget_session
from gateway.takeover import SESSION_TAKEN_OVER, TakeoverWatch
from hazgate.errors import ConfigError
from hazgate.services.local import LocalServices
from hazgate.settings import Settings
from tests.fixtures.mqtt import wait_until
from tests.fixtures.processes import GatewayProcess, OwnBroker
from tests.fixtures.services import free_port, make_settings

TANK = {"tank_pressure_kpa": 640.0, "tank_temp_c": 16.5, "tank_level_pct": 71.0}


def stored(db: psycopg.Connection, device_id: str) -> int:
    row = db.execute("SELECT count(DISTINCT seq) FROM telemetry WHERE device_id = %s", (device_id,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def gateways(settings: Settings) -> Iterator[list[GatewayProcess]]:
    """Gateway processes a test starts; stopped, and their sessions ended, afterwards."""
    started: list[GatewayProcess] = []
    yield started
    for gw in started:
        gw.stop()
        if gw.client_id:
            forget_session(settings, gw.client_id)


def test_two_gateways_with_default_settings_share_the_load_without_a_single_disconnect(
    settings: Settings, local_services: LocalServices, make_device, db: psycopg.Connection, tmp_path: Path
) -> None:
    # A broker of the test's own: every message it carries is the test's, so the counts are exact.
    broker = OwnBroker(settings, local_services, tmp_path)
    tank = make_device("tank_sensor", connect=False)
    broker.up()
    tank.settings = broker.settings
    tank.connect()
    # Nothing set but where the database and broker are; both want one JT/T 808 port, as two
    # default processes on one host want 6808 (a free one here: a demo may hold 6808).
    jt808_port = str(free_port())
    gateways = [GatewayProcess(broker.settings, tmp_path, HAZGATE_JT808__PORT=jt808_port) for _ in range(2)]
    try:
        wait_until(lambda: all(gw.client_id for gw in gateways), 30)
        time.sleep(0.5)  # both subscribed to the share group

        sent = 0
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:  # 20 s side by side, 50 messages a second
            tank.send(tank.reading(TANK, datetime.now(UTC)))
            sent += 1
            time.sleep(0.02)
        wait_until(lambda: stored(db, tank.device_id) == sent, 30)
        codes = [gw.stop() for gw in gateways]
    finally:
        tank.close()
        for gw in gateways:
            gw.stop()
        broker.down()

    assert codes == [0, 0]
    ids = [gw.client_id for gw in gateways]
    assert len(set(ids)) == 2, ids
    assert all(i and i.startswith(f"hazgate-gw-{host_label()}-") for i in ids), ids
    assert [gw.disconnects() for gw in gateways] == [[], []]
    assert [gw.connections() for gw in gateways] == [1, 1]
    # One listens for JT/T 808 terminals on the shared port; the other says it leaves them to it.
    assert sum("runs without it" in gw.log for gw in gateways) == 1
    shares = [gw.messages_received() for gw in gateways]
    assert sum(shares) == sent  # each message went to exactly one of them
    assert min(shares) > sent * 0.3, f"the load was not split: {shares}"


def test_a_second_gateway_forced_onto_the_same_client_id_stops_at_start_up_naming_the_setting(
    settings: Settings, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    pinned = f"gw-pinned-{uuid.uuid4().hex[:6]}"
    first = GatewayProcess(settings, tmp_path, HAZGATE_MQTT__CLIENT_ID=pinned)
    gateways.append(first)
    wait_until(lambda: first.client_id, 30)

    second = GatewayProcess(settings, tmp_path, HAZGATE_MQTT__CLIENT_ID=pinned)
    assert second.proc.wait(60) == 1
    assert "HAZGATE_MQTT__CLIENT_ID" in second.log and "already used" in second.log
    assert second.connections() == 0, "it never touched the first one's session"
    time.sleep(1.0)
    assert first.proc.poll() is None and first.disconnects() == []


class Twin:
    """Another host's process configured with the same client id: it reconnects whenever dropped."""

    def __init__(self, settings: Settings, client_id: str, protocol: str) -> None:
        v5 = protocol == "5"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        self.client.username_pw_set(settings.mqtt.username, settings.mqtt_password)
        self.client.reconnect_delay_set(1, 1)
        self.client.connect_async(
            settings.mqtt_host, settings.mqtt_port, clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY
        )
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_gateway_whose_client_id_is_used_elsewhere_stops_with_an_error_instead_of_flapping(
    settings: Settings, protocol: str, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    pinned = f"gw-twin-{uuid.uuid4().hex[:6]}"
    gw = GatewayProcess(settings, tmp_path, HAZGATE_MQTT__CLIENT_ID=pinned, HAZGATE_MQTT__PROTOCOL=protocol)
    gateways.append(gw)
    wait_until(lambda: gw.client_id, 30)
    twin = Twin(settings, pinned, protocol)
    try:
        assert gw.proc.wait(60) == 1, gw.log
    finally:
        twin.close()
    assert "another process uses the MQTT client id" in gw.log
    assert "HAZGATE_MQTT__CLIENT_ID" in gw.log
    # Mosquitto 2.0.11 closes the old connection without MQTT 5's DISCONNECT 0x8E, so with it
    # both protocols stop on the pattern: a few sessions cut short, not a flap for ever.
    assert len(gw.disconnects()) < 5


# -- the decisions behind it, without a broker -------------------------------------------------


def test_each_gateway_process_on_a_host_claims_its_own_id_and_a_restart_takes_its_predecessors() -> None:
    settings = make_settings(mqtt={"share_group": f"claims{uuid.uuid4().hex[:6]}"})
    first, second = claim_client_id(settings), claim_client_id(settings)
    group = settings.mqtt.share_group
    assert (first.client_id, second.client_id) == (f"{group}-gw-{host_label()}-0", f"{group}-gw-{host_label()}-1")
    first.release()  # the first process ends (the kernel drops its lock even on SIGKILL)
    restarted = claim_client_id(settings)
    assert restarted.client_id == f"{group}-gw-{host_label()}-0", "it resumes the session the first one left"
    for claim in (second, restarted):
        claim.release()


def test_an_id_set_by_hand_is_refused_to_a_second_process_with_a_reason_and_the_setting() -> None:
    settings = make_settings(mqtt={"client_id": f"pinned-{uuid.uuid4().hex[:6]}"})
    held = claim_client_id(settings)
    with pytest.raises(ConfigError) as refused:
        claim_client_id(settings)
    assert "already used by another hazgate process" in refused.value.message
    assert refused.value.hint is not None and "HAZGATE_MQTT__CLIENT_ID" in refused.value.hint
    held.release()
    claim_client_id(settings).release()  # free again once the holder stopped


def test_mqtt5_session_taken_over_is_decisive() -> None:
    watch = TakeoverWatch()
    watch.connected(0.0)
    assert watch.disconnected(3600.0, SESSION_TAKEN_OVER)


def test_mqtt311_sessions_cut_short_again_and_again_mean_a_twin() -> None:
    watch = TakeoverWatch(short_session_s=5.0, limit=3)
    verdicts = []
    for start in (0.0, 2.0, 4.0):
        watch.connected(start)
        verdicts.append(watch.disconnected(start + 1.0, None))
    assert verdicts == [False, False, True]


def test_a_broker_that_restarts_is_not_mistaken_for_a_twin() -> None:
    watch = TakeoverWatch(short_session_s=5.0, limit=3)
    for start in (0.0, 10.0, 20.0, 30.0):
        watch.connected(start)
        assert not watch.disconnected(start + 1.0, None)
        watch.connect_failed()  # the broker refused connections for a while: it was away


def test_a_long_session_between_short_ones_resets_the_count() -> None:
    watch = TakeoverWatch(short_session_s=5.0, limit=3)
    for start, length in ((0.0, 1.0), (2.0, 1.0), (4.0, 600.0), (605.0, 1.0), (607.0, 1.0)):
        watch.connected(start)
        assert not watch.disconnected(start + length, None)
