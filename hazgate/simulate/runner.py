"""Publishes the simulated park through the broker, each device logged in as itself."""

from __future__ import annotations

import base64
import contextlib
import json
import random
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
import psycopg

from devices import jt808, registry
from devices.types import DeviceType
from gateway.jt808.protocol import Version, make_location
from hazgate.broker_client import new_client
from hazgate.services.local import LocalServices, ensure_secrets
from hazgate.settings import Settings
from hazgate.simulate.drive import Fleet
from hazgate.simulate.jt808_terminal import Terminal, TerminalError
from hazgate.simulate.park import (
    ArrivalPlan,
    Park,
    PlannedArrival,
    SimDevice,
    Tanker,
    gas_reading,
    person_name,
    tank_reading,
)
from hazgate.simulate.photos import CrewPhotos, cast, default_faces_dir
from hazgate.topics import DeviceKind, device_topic

if TYPE_CHECKING:
    from hazgate.simulate.stays import StayRunner

__all__ = ["Simulator", "assign_photos", "default_faces_dir", "ensure_devices", "register_devices", "say"]


def say(text: str) -> None:
    print(f"[simulate] {text}", file=sys.stderr, flush=True)  # noqa: T201


def assign_photos(park: Park, faces_dir: Path) -> CrewPhotos:
    """Each crew member: (ID-card and enrolment photo, live photo), two photos of one real person."""
    return cast([p for t in park.tankers for p in (t.driver_id, t.escort_id)], faces_dir)


def register_devices(
    conn: psycopg.Connection, park: Park, known: dict[str, str], extra: list[SimDevice] | None = None
) -> dict[str, str]:
    """Register the park's devices not registered yet (or whose password is not in ``known``);
    returns ``known`` with their passwords added. The caller tells the broker."""
    known = dict(known)
    registered = {r[0] for r in conn.execute("SELECT device_id FROM devices WHERE site = %s", (park.site,))}
    for device in park.devices + (extra or []):
        if device.device_id in known and device.device_id in registered:
            # Installed before devices had zones: say where it stands now.
            conn.execute(
                "UPDATE devices SET zone_id = %s WHERE device_id = %s AND zone_id IS DISTINCT FROM %s",
                (device.zone, device.device_id, device.zone),
            )
            continue
        if device.device_id in registered:
            conn.execute("DELETE FROM devices WHERE device_id = %s", (device.device_id,))
        creds = registry.add_device(
            conn, device.site, device.device_id, device.type, device.gate_id, device.plate, zone_id=device.zone
        )
        known[device.device_id] = creds.password
    return known


def ensure_devices(settings: Settings, park: Park, extra: list[SimDevice] | None = None) -> dict[str, str]:
    """Register the park's devices (and ``extra`` ones) once; their passwords are kept in the state dir."""
    path = settings.state_dir / "simulator" / f"{park.site}-devices.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    with psycopg.connect(settings.db_url) as conn:
        known = register_devices(conn, park, known, extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known))
    path.chmod(0o600)
    services = LocalServices(settings)
    services.broker.write_auth(services.broker_accounts(ensure_secrets(settings.state_dir)))
    time.sleep(0.3)
    return known


def jt808_phone(park: Park, tanker: Tanker) -> str:
    """A stable 11-digit phone per simulated tracker: 139, the seed, the tanker."""
    return f"139{park.seed % 10000:04d}{tanker.index + 1:04d}"


def ensure_jt808(settings: Settings, park: Park, count: int) -> dict[str, str]:
    """The GPS trackers of the first ``count`` tankers provisioned as JT/T 808 terminals:
    {device id: phone}. Their MQTT accounts stay; they just do not use them."""
    chosen = {t.gps.device_id: jt808_phone(park, t) for t in park.tankers[:count]}
    with psycopg.connect(settings.db_url) as conn:
        have: dict[str, str] = dict(conn.execute("SELECT device_id, phone FROM jt808_terminals").fetchall())
        for device_id, phone in chosen.items():
            if have.get(device_id) == phone:
                continue
            conn.execute("DELETE FROM jt808_terminals WHERE device_id = %s OR phone = %s", (device_id, phone))
            jt808.provision(conn, device_id, DeviceType.GPS_TRACKER, phone)
    return chosen


class Simulator:
    def __init__(
        self,
        settings: Settings,
        park: Park,
        passwords: dict[str, str],
        *,
        interval_s: float,
        arrival_every_s: float,
        photos: CrewPhotos | None,
        jt808_phones: dict[str, str] | None = None,
        first_arrival_s: float = 2.0,
    ) -> None:
        self.settings = settings
        # GPS trackers that speak JT/T 808 over TCP instead of MQTT: device id -> phone.
        self.jt808_phones = jt808_phones or {}
        self.terminals: dict[str, Terminal] = {}
        self.jt808_failures = 0
        self.park = park
        self.passwords = passwords
        self.interval_s = interval_s
        self.arrival_every_s = arrival_every_s
        self.first_arrival_s = first_arrival_s
        self.photos = photos
        self.rng = random.Random(park.seed)
        self.plan = ArrivalPlan(park, park.seed) if park.sound_tankers and park.gates else None
        self.planned: list[PlannedArrival] = []  # every arrival started, in order
        self.fleet = Fleet(park.seed, len(park.tankers))  # trackers drive the demo park's roads
        self.clients: dict[str, mqtt.Client] = {}
        self.seq: dict[str, int] = {}
        self.sent = 0
        self.arrivals = 0
        self.stop = threading.Event()
        # Whole stays (`--stays`, hazgate/simulate/stays.py): set before run() to drive them.
        self.stays: StayRunner | None = None

    def topic(self, device: SimDevice, kind: DeviceKind) -> str:
        return device_topic(device.site, device.device_id, kind)

    def connect(self) -> None:
        for k, (device_id, phone) in enumerate(sorted(self.jt808_phones.items())):
            device = next(d for d in self.park.devices if d.device_id == device_id)
            # A listener on every interface is reached on loopback.
            host = "127.0.0.1" if self.settings.jt808.host in ("0.0.0.0", "::") else self.settings.jt808.host  # noqa: S104
            version = Version.V2019 if k % 2 else Version.V2013  # both versions on the road
            self.terminals[device_id] = Terminal(
                host, self.settings.jt808.port, phone, version, plate=device.plate or ""
            )
        for device in self.park.devices + (self.stays.devices if self.stays else []):
            if device.device_id in self.terminals:
                continue
            client = new_client(
                self.settings, device.device_id, username=device.device_id, password=self.passwords[device.device_id]
            )
            client.will_set(self.topic(device, DeviceKind.STATUS), json.dumps({"state": "offline"}), qos=1, retain=True)
            client.connect(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
            client.loop_start()
            client.publish(self.topic(device, DeviceKind.STATUS), json.dumps({"state": "online"}), qos=1, retain=True)
            self.clients[device.device_id] = client
        # Seqs continue across runs, so a rerun's readings are new readings, not redeliveries.
        base = int(time.time() * 1000)
        self.seq = {d.device_id: base for d in self.park.devices}

    def close(self) -> None:
        for terminal in self.terminals.values():
            with contextlib.suppress(OSError, EOFError, TimeoutError):
                if terminal.authenticated:
                    terminal.logout()
            terminal.close()
        devices = self.park.devices + (self.stays.devices if self.stays else [])
        for device_id, client in self.clients.items():
            device = next(d for d in devices if d.device_id == device_id)
            client.publish(self.topic(device, DeviceKind.STATUS), json.dumps({"state": "offline"}), qos=1, retain=True)
            client.disconnect()
            client.loop_stop()

    def send_reading(self, device: SimDevice, values: dict[str, float]) -> None:
        terminal = self.terminals.get(device.device_id)
        if terminal is not None:
            self._report(terminal, values)
            return
        self.seq[device.device_id] += 1
        body = {"ts": datetime.now(UTC).isoformat(), "seq": self.seq[device.device_id], "values": values}
        self.clients[device.device_id].publish(self.topic(device, DeviceKind.TELEMETRY), json.dumps(body), qos=1)
        self.sent += 1

    def _report(self, terminal: Terminal, values: dict[str, float]) -> None:
        """One JT/T 808 location report, answered after it is stored; a broken link is set up
        again at the next report (the report is then lost, as a real terminal would buffer it)."""
        location = make_location(
            datetime.now(UTC), values["lat"], values["lon"], speed_kmh=values["speed_kmh"], heading_deg=0
        )
        try:
            if not terminal.authenticated:
                terminal.close()
                terminal.start()
            if terminal.report(location).result == 0:
                self.sent += 1
        except (OSError, EOFError, TimeoutError, TerminalError) as exc:
            self.jt808_failures += 1
            terminal.close()
            if self.jt808_failures in (1, 10, 100):
                say(f"JT/T 808 terminal {terminal.phone}: {exc}; reconnecting at the next report")

    def tick(self, t: float) -> None:
        for tanker in self.park.tankers:
            self.send_reading(tanker.sensor, tank_reading(self.park, tanker, t, self.rng))
            staying = self.stays.gps(tanker, self.rng) if self.stays else None
            self.send_reading(tanker.gps, staying or self.fleet.reading(tanker.index, t, self.rng))
        for detector in self.park.detectors:
            values = gas_reading(self.park, detector, t, self.rng)
            if values is not None:
                self.send_reading(detector, values)

    def _live_face(self, person: str, impostor: bool, rng: random.Random) -> str | None:
        """The photo the face camera sends: the person's own second photo, or a stranger's."""
        if self.photos is None or person not in self.photos.people:
            return None
        own = self.photos.people[person]
        if not impostor:
            return str(own[1])
        others = list(self.photos.strangers) or [p[1] for k, p in self.photos.people.items() if p[1] != own[1]]
        return str(rng.choice(others)) if others else str(own[1])

    def arrival(self, planned: PlannedArrival) -> None:
        """A whole gate visit: plate, ID cards, faces, weight, waybill, a moment apart."""
        tanker = planned.tanker
        devs = self.park.gate_devices[planned.gate]
        # Its own random stream (pauses, the stranger's face), so threads do not share one.
        rng = random.Random(f"{self.park.seed}-{tanker.plate}-{planned.gross_kg}")
        events: list[tuple[SimDevice, dict[str, Any]]] = [
            (devs["anpr_camera"], {"type": "plate", "plate": tanker.plate, "confidence": 0.97}),
        ]
        for role, person in (("driver", tanker.driver_id), ("escort", tanker.escort_id)):
            live = self._live_face(person, planned.impostor == role, rng)
            if self.photos is None or live is None:
                continue
            id_photo = self.photos.people[person][0]
            events.append(
                (
                    devs["id_reader"],
                    {
                        "type": "id_card",
                        "role": role,
                        "id_number": person,
                        "name": person_name(role, tanker),
                        "photo_b64": _b64(str(id_photo)),
                    },
                )
            )
            events.append((devs["face_camera"], {"type": "face", "role": role, "image_b64": _b64(live)}))
        events.append((devs["weighbridge"], {"type": "weight", "gross_kg": planned.gross_kg}))
        events.append((devs["waybill_scanner"], {"type": "waybill", "waybill_no": planned.waybill_no}))
        for device, body in events:
            if self.stop.is_set():
                return
            body = {**body, "event_id": str(uuid.uuid4()), "ts": datetime.now(UTC).isoformat()}
            self.clients[device.device_id].publish(self.topic(device, DeviceKind.EVENT), json.dumps(body), qos=1)
            self.stop.wait(rng.uniform(0.2, 0.8))
        self.arrivals += 1

    def run(self, duration_s: float | None) -> dict[str, Any]:
        self.connect()
        started = time.monotonic()
        next_arrival = self.first_arrival_s
        next_report = 10.0
        try:
            while not self.stop.is_set():
                t = time.monotonic() - started
                if duration_s is not None and t >= duration_s:
                    break
                self.tick(t)
                if self.plan is not None and t >= next_arrival:
                    planned = self.plan.next()
                    if self.stays is not None and planned.trouble is None:
                        # A sound arrival becomes a whole stay (book, queue, enter, fill, leave).
                        self.stays.start_next()
                    else:
                        self.planned.append(planned)
                        if planned.trouble is not None:
                            say(f"{t:.0f} s: {planned.tanker.plate} at {planned.gate} with trouble: {planned.trouble}")
                        threading.Thread(target=self.arrival, args=(planned,), daemon=True).start()
                    next_arrival = t + self.arrival_every_s * self.rng.uniform(0.7, 1.3)
                elif self.stays is not None and t >= next_arrival:
                    self.stays.start_next()
                    next_arrival = t + self.arrival_every_s * self.rng.uniform(0.7, 1.3)
                if t >= next_report:
                    stays = f", {self.stays.stays} whole stays" if self.stays else ""
                    say(f"{t:.0f} s: {self.sent} readings, {self.arrivals} gate arrivals{stays}")
                    next_report = t + 10
                self.stop.wait(max(0.0, self.interval_s - (time.monotonic() - started - t)))
        finally:
            self.close()
        return {
            "readings": self.sent,
            "arrivals": self.arrivals,
            "jt808_terminals": len(self.terminals),
            "seconds": round(time.monotonic() - started, 1),
            **({"stays": self.stays.stays} if self.stays else {}),
        }


def _b64(path: str) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()
