"""`hazgate bench gate`: whole arrivals with real photos; latency from the last input to the decision.

Each arrival is a registered tanker, driver and escort (enrolled from real photos) driving up to
one of the gates: plate, both ID cards, both live faces at 1280x720, weight, waybill, a short
gap apart. Latency is measured from the moment the last of those events is published to the
moment the final decision (pass/fail/review) arrives on the gate's decision topic, i.e. what
the kiosk sees. The gateway (with its gate pipeline) runs in its own process, as in production.
"""

from __future__ import annotations

import base64
import json
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import psycopg

from devices import registry as devices_registry
from gateway.mqtt_client import forget_session
from hazgate.bench.common import percentile, progress, sync_broker
from hazgate.bench.ingest import _gateway
from hazgate.broker_client import new_client
from hazgate.settings import Settings
from hazgate.simulate.photos import identities
from hazgate.topics import DeviceKind, GateKind, device_topic, gate_filter
from registry.identifiers import id_check_char
from registry.importer import import_registry

GATE_DEVICES = ("anpr_camera", "id_reader", "face_camera", "weighbridge", "waybill_scanner")
LIVE_SIZE = (1280, 720)
# ID-card chip photos are small portraits; wide enough that every test identity's face stays
# above the 60 px quality floor.
CARD_WIDTH_PX = 640


def _jpeg(img: Any) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(buf.tobytes())


def _read(path: Path) -> Any:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read the photo {path}")
    return img


def live_frame(path: Path) -> bytes:
    """The photo placed in a 1280x720 camera frame (scaled to fit, grey borders)."""
    img = _read(path)
    w, h = LIVE_SIZE
    scale = min(w / img.shape[1], h / img.shape[0])
    resized = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)))
    frame = np.full((h, w, 3), 96, dtype=np.uint8)
    y, x = (h - resized.shape[0]) // 2, (w - resized.shape[1]) // 2
    frame[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return _jpeg(frame)


def card_photo(path: Path) -> bytes:
    img = _read(path)
    scale = CARD_WIDTH_PX / img.shape[1]
    return _jpeg(cv2.resize(img, (CARD_WIDTH_PX, int(img.shape[0] * scale))))


def _id_number(rng: random.Random) -> str:
    first17 = f"330203{1975 + rng.randrange(25)}{1 + rng.randrange(12):02d}{1 + rng.randrange(28):02d}"
    first17 += f"{rng.randrange(1000):03d}"
    return first17 + id_check_char(first17)


@dataclass
class Arrival:
    plate: str
    waybill_no: str
    crew: list[tuple[str, str, str, bytes, bytes]]  # role, id number, name, card photo, live frame


def build_registry(n: int, faces_dir: Path, rng: random.Random) -> tuple[dict[str, Any], list[Arrival]]:
    people = [person.photos for person in identities(faces_dir)]
    valid = (date.today() + timedelta(days=365)).isoformat()
    now = datetime.now(UTC)
    doc: dict[str, Any] = {
        "carriers": [{"id": "C-BENCH", "name": "压测运输", "permit_no": "B-1", "permit_expires": valid}],
        "vehicles": [],
        "personnel": [],
        "waybills": [],
    }
    arrivals = []
    for i in range(n):
        plate = f"浙{'ABCDEFGH'[i % 8]}{rng.randrange(10000, 99999)}"
        waybill_no = f"WB-BENCH-{uuid.uuid4().hex[:10]}"
        crew = []
        for k, role in enumerate(("driver", "escort")):
            photos = people[(2 * i + k) % len(people)]
            id_number = _id_number(rng)
            doc["personnel"].append(
                {
                    "id_number": id_number,
                    "name": f"{role}{i}",
                    "roles": [role],
                    "qualification_no": f"Q{i}{k}",
                    "qualification_class": role,
                    "qualification_expires": valid,
                    "photo": str(photos[0]),
                }
            )
            crew.append((role, id_number, f"{role}{i}", card_photo(photos[0]), live_frame(photos[1])))
        doc["vehicles"].append(
            {
                "plate": plate,
                "carrier_id": "C-BENCH",
                "vehicle_license_expires": valid,
                "transport_permit_no": f"P{i}",
                "transport_permit_expires": valid,
                "inspection_expires": valid,
                "rated_load_kg": 25000,
                "tare_kg": 15000,
                "tank": {
                    "id": f"TK-B{i}",
                    "capacity_m3": 52.6,
                    "inspection_expires": valid,
                    "permitted_un": ["UN1077"],
                },
            }
        )
        doc["waybills"].append(
            {
                "waybill_no": waybill_no,
                "plate": plate,
                "driver_id": crew[0][1],
                "escort_id": crew[1][1],
                "cargo": {"un": "UN1077", "name": "丙烯", "class": "2.1", "quantity_kg": 24000},
                "valid_from": (now - timedelta(hours=1)).isoformat(),
                "valid_to": (now + timedelta(days=1)).isoformat(),
            }
        )
        arrivals.append(Arrival(plate, waybill_no, crew))
    return doc, arrivals


class DecisionWatcher:
    def __init__(self, settings: Settings, site: str) -> None:
        self.final: dict[str, tuple[float, dict[str, Any]]] = {}  # plate -> (arrived at, decision)
        self.lock = threading.Lock()
        ready = threading.Event()
        self.client = new_client(settings, f"{site}-watch")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.connect(settings.mqtt_host, settings.mqtt_port)
        self.client.loop_start()
        self.client.subscribe(gate_filter(GateKind.DECISION, site=site), qos=1)
        ready.wait(5)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.time()
        body = json.loads(message.payload)
        if body["result"] != "pending" and body.get("plate"):
            with self.lock:
                # Keep the latest final decision: it is the one after the last input.
                self.final[body["plate"]] = (now, body)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


Send = Callable[[str, dict[str, Any]], float]  # device type, event body -> time it was accepted


def _drive(send: Send, arrival: Arrival, gap_s: float, face_last: bool = False) -> float:
    """Publish one arrival's events, `gap_s` apart; returns when the last was accepted.

    The usual order ends with the weighbridge and the waybill; with `face_last` the escort's
    live face is the last input, so the decision waits for face work (the harder case)."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("anpr_camera", {"type": "plate", "plate": arrival.plate, "confidence": 0.97})
    ]
    faces = []
    for role, id_number, name, card, live in arrival.crew:
        card_b64 = base64.b64encode(card).decode()
        events.append(
            (
                "id_reader",
                {"type": "id_card", "role": role, "id_number": id_number, "name": name, "photo_b64": card_b64},
            )
        )
        faces.append(("face_camera", {"type": "face", "role": role, "image_b64": base64.b64encode(live).decode()}))
        if not face_last:
            events.append(faces.pop())
    events.append(("weighbridge", {"type": "weight", "gross_kg": 38950.0}))
    events.append(("waybill_scanner", {"type": "waybill", "waybill_no": arrival.waybill_no}))
    events.extend(faces)
    last = 0.0
    for i, (device, body) in enumerate(events):
        if i:
            time.sleep(gap_s)
        last = send(device, body)
    return last


def _sender(clients: dict[str, mqtt.Client], topics: dict[str, str]) -> Send:
    def send(device: str, body: dict[str, Any]) -> float:
        body = {**body, "event_id": str(uuid.uuid4()), "ts": datetime.now(UTC).isoformat()}
        clients[device].publish(topics[device], json.dumps(body, ensure_ascii=False), qos=1).wait_for_publish(10)
        return time.time()

    return send


def run_gate_bench(
    settings: Settings,
    *,
    arrivals: int,
    gates: int,
    faces_dir: Path,
    gap_s: float,
    seed: int = 1,
    face_last: bool = False,
) -> dict[str, Any]:
    rng = random.Random(seed)
    site = f"bench-gate-{uuid.uuid4().hex[:6]}"
    arrivals += gates  # one warm-up arrival per gate
    progress(f"preparing {arrivals} arrivals with real photos (live faces at {LIVE_SIZE[0]}x{LIVE_SIZE[1]})")
    doc, plan = build_registry(arrivals, faces_dir, rng)
    progress("enrolling the crews (registry import)")
    import_registry(
        settings.db_url, doc, base_dir=faces_dir, faces=settings.faces, strict=True, progress=lambda _t: None
    )
    creds: dict[str, dict[str, str]] = {}
    with psycopg.connect(settings.db_url) as conn:
        for g in range(gates):
            gate_id = f"g{g + 1}"
            creds[gate_id] = {}
            for t in GATE_DEVICES:
                device = devices_registry.add_device(conn, site, f"{site}-{gate_id}-{t.split('_')[0]}", t, gate_id)
                creds[gate_id][t] = device.password
    sync_broker(settings)
    gateway = _gateway(settings, site)
    watcher = DecisionWatcher(settings, site)
    latencies: list[float] = []
    results: dict[str, int] = {}
    reasons: dict[str, int] = {}
    # Each gate's first arrival is a warm-up and is reported apart: it can meet face workers
    # still loading their models after the gateway started.
    warmup: list[float] = []
    try:
        time.sleep(6.0)  # the gateway connects and loads the face models
        progress(f"driving {arrivals} arrivals through {gates} gates")
        started = time.time()
        queues = [plan[g::gates] for g in range(gates)]

        def gate_worker(gate_id: str, todo: list[Arrival]) -> None:
            clients = {}
            topics = {}
            for t in GATE_DEVICES:
                device_id = f"{site}-{gate_id}-{t.split('_')[0]}"
                client = new_client(settings, device_id, username=device_id, password=creds[gate_id][t])
                client.connect(settings.mqtt_host, settings.mqtt_port)
                client.loop_start()
                clients[t] = client
                topics[t] = device_topic(site, device_id, DeviceKind.EVENT)
            for n, arrival in enumerate(todo):
                last = _drive(_sender(clients, topics), arrival, gap_s, face_last)
                deadline = time.time() + 30
                while time.time() < deadline:
                    with watcher.lock:
                        got = watcher.final.get(arrival.plate)
                    if got is not None and got[0] >= last:
                        break
                    time.sleep(0.005)
                else:
                    progress(f"  no final decision for {arrival.plate} within 30 s")
                    continue
                latency_ms = (got[0] - last) * 1000
                progress(f"  {gate_id} {arrival.plate}: {got[1]['result']} {latency_ms:.0f} ms after the last input")
                if n == 0:
                    warmup.append(latency_ms)  # each gate's first arrival: not counted, see below
                    continue
                latencies.append(latency_ms)
                results[got[1]["result"]] = results.get(got[1]["result"], 0) + 1
                for check in got[1]["checks"]:
                    for reason in check["reasons"]:
                        if reason["code"] != "document_expiring_soon":
                            reasons[reason["code"]] = reasons.get(reason["code"], 0) + 1
                time.sleep(0.5)  # the tanker drives on, the next one pulls up
            for client in clients.values():
                client.disconnect()
                client.loop_stop()

        failures: list[BaseException] = []

        def guarded(gate_id: str, todo: list[Arrival]) -> None:
            try:
                gate_worker(gate_id, todo)
            except BaseException as exc:  # noqa: BLE001 - re-raised after join: a broken bench must say so
                failures.append(exc)

        workers = [threading.Thread(target=guarded, args=(f"g{g + 1}", queues[g])) for g in range(gates)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.time() - started
        if failures:
            raise RuntimeError(f"a gate worker failed: {failures[0]!r}") from failures[0]
    finally:
        watcher.close()
        gateway.terminate()
        gateway.wait(15)
        forget_session(settings, f"{site}-gateway")
        _cleanup(settings, site, doc)
    return {
        "arrivals": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "arrivals_per_min": round(len(latencies) / elapsed * 60, 1),
        "results": results,
        "reasons": reasons,
        "warmup_arrivals_ms": [round(w, 1) for w in warmup],
        "gates": gates,
        "event_gap_s": gap_s,
        "last_input": "escort face" if face_last else "waybill",
        "live_face_px": f"{LIVE_SIZE[0]}x{LIVE_SIZE[1]}",
    }


def _cleanup(settings: Settings, site: str, doc: dict[str, Any]) -> None:
    with psycopg.connect(settings.db_url) as conn:
        conn.execute(
            "DELETE FROM gate_images WHERE inspection_id IN (SELECT id FROM inspections WHERE site = %s)", (site,)
        )
        conn.execute(
            "DELETE FROM inspection_audit WHERE inspection_id IN (SELECT id FROM inspections WHERE site = %s)", (site,)
        )
        conn.execute("DELETE FROM inspections WHERE site = %s", (site,))
        conn.execute("DELETE FROM gate_events WHERE site = %s", (site,))
        conn.execute("DELETE FROM devices WHERE site = %s", (site,))
        conn.execute("DELETE FROM waybills WHERE waybill_no = ANY(%s)", ([w["waybill_no"] for w in doc["waybills"]],))
        conn.execute("DELETE FROM personnel WHERE id_number = ANY(%s)", ([p["id_number"] for p in doc["personnel"]],))
        conn.execute("DELETE FROM vehicles WHERE plate = ANY(%s)", ([v["plate"] for v in doc["vehicles"]],))
    sync_broker(settings)
