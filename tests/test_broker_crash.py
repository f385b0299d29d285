"""A broker crash loses nothing that was acknowledged.

Issue 10: a device publishing 300 readings/s at QoS 1; the broker killed with SIGKILL mid-stream
and restarted with `hazgate services up`; the device got a PUBACK for every reading, and 904 of
them were never stored: Mosquitto restores the gateway's session but not its shared
subscription, so what devices sent before the gateway had subscribed again matched nobody.
Now the broker is started with the gateways' sessions re-armed before devices get in.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.mqtt_client import forget_session
from hazgate.services.local import LocalServices
from hazgate.settings import Settings
from tests.fixtures.mqtt import wait_until
from tests.fixtures.processes import GatewayProcess, OwnBroker

RATE_PER_S = 300
SECONDS = 8.0
CRASH_AT_S = 3.0
DOWN_S = 2.0
WARM_UP_SEQ = 10**9
# Readings acknowledged in the last moment before a SIGKILL that may not have left the broker's
# memory for the gateway yet (0.1 s at RATE_PER_S).
MOMENT_OF_KILL = RATE_PER_S // 10


@pytest.fixture
def broker(settings: Settings, local_services: LocalServices, tmp_path: Path) -> Iterator[OwnBroker]:
    own = OwnBroker(settings, local_services, tmp_path)
    own.up()
    yield own
    own.down()


class PacedDevice:
    """A tank sensor publishing one reading per message at a steady rate, QoS 1, the way a real
    device's MQTT library does: while the broker is away it keeps what it has not had a PUBACK
    for, and sends it again once reconnected."""

    def __init__(self, broker: OwnBroker, device_id: str, password: str, site: str) -> None:
        self.topic = f"hazgate/v1/{site}/devices/{device_id}/telemetry"
        self.acked_mids: list[int] = []
        self.seq_of_mid: dict[int, int] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
        self.client.username_pw_set(device_id, password)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked_mids.append(mid)
        self.client.connect(broker.settings.mqtt_host, broker.settings.mqtt_port)
        self.client.loop_start()

    def publish(self, seq: int) -> None:
        body = {"ts": datetime.now(UTC).isoformat(), "seq": seq, "values": {"tank_pressure_kpa": 700.0}}
        info = self.client.publish(self.topic, json.dumps(body), qos=1)
        self.seq_of_mid[info.mid] = seq

    def acknowledged(self) -> set[int]:
        return {self.seq_of_mid[mid] for mid in list(self.acked_mids) if mid in self.seq_of_mid}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stored_seqs(db: psycopg.Connection, device_id: str) -> tuple[set[int], int]:
    rows = db.execute("SELECT seq FROM telemetry WHERE device_id = %s", (device_id,)).fetchall()
    return {int(r[0]) for r in rows}, len(rows)


@pytest.mark.parametrize("how", ["SIGKILL", "clean stop"])
def test_broker_killed_mid_stream_and_restarted_loses_no_acknowledged_reading(
    how: str, broker: OwnBroker, make_device, db: psycopg.Connection, tmp_path: Path
) -> None:
    tank = make_device("tank_sensor", connect=False)
    broker.up()  # the device's account, as `hazgate devices add` gives it
    gateway = GatewayProcess(broker.settings, tmp_path)  # default settings: it claims its client id
    device = PacedDevice(broker, tank.device_id, tank.password, tank.site)
    try:
        wait_until(lambda: gateway.client_id, 30)
        device.publish(WARM_UP_SEQ)  # stored: the gateway has subscribed (before, nobody is queued for)
        wait_until(lambda: WARM_UP_SEQ in stored_seqs(db, tank.device_id)[0], 30)
        total = int(RATE_PER_S * SECONDS)
        start = time.monotonic()
        crashed, crash_seq = False, total
        for seq in range(total):
            due = start + seq / RATE_PER_S
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            if not crashed and time.monotonic() - start >= CRASH_AT_S:
                crashed, crash_seq = True, seq
                broker.crash() if how == "SIGKILL" else broker.down()
                # `hazgate services up` a little later, while the device keeps publishing.
                threading.Timer(DOWN_S, broker.up).start()
            device.publish(seq)
        wait_until(lambda: len(device.acknowledged() - {WARM_UP_SEQ}) == total, 60)
        acknowledged = device.acknowledged() - {WARM_UP_SEQ}
        deadline = time.monotonic() + 60
        while not stored_seqs(db, tank.device_id)[0] >= acknowledged and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # a late redelivery would show up now
        seqs, rows = stored_seqs(db, tank.device_id)
        lost = sorted(acknowledged - seqs)
        # What docs/protocol.md promises: nothing sent after the crash is lost (the broker comes
        # back with the gateway's shared subscription before devices get in), and of what was
        # acknowledged just before the kill at most the last ~0.1 s; zero on a machine that is
        # not starved of CPU (measured: 0 in every such run; 4 and 12 readings under heavy load).
        assert all(crash_seq - MOMENT_OF_KILL <= s < crash_seq for s in lost), (
            f"acknowledged to the device, never stored: {len(lost)}, seq {lost[0]}-{lost[-1]}"
            f" (the kill came before seq {crash_seq})\ngateway:\n{gateway.log}\nbroker:\n{broker.log[-6000:]}"
        )
        if how == "clean stop":
            assert lost == [], "a clean stop saves everything first"
        assert rows == len(seqs), "stored once each"
        assert gateway.client_id is not None and "session present: True" in gateway.log
    finally:
        device.close()
        gateway.stop()
        if gateway.client_id:
            forget_session(broker.settings, gateway.client_id)
