"""The gate pipeline: gate events → visits → face work → the five checks → decision, barrier, record.

One thread owns the visits (no locks on them); face comparisons run in a small pool and come
back as work items, so a slow face never holds up another gate's events, and never telemetry,
which has its own threads.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from checks import (
    DEFAULT_POLICY,
    MISSING_INPUT_PROMPTS,
    CheckPolicy,
    Decision,
    FaceEvidence,
    FaceProblem,
    GpsTracker,
    OpenAlert,
    VehicleStatusFacts,
    evaluate,
)
from gateway.face_match import CardResult, analyze_card, face_evidence
from gateway.face_pool import face_pool
from gateway.faces import FaceSettings
from gateway.gate_visit import ROLES, Lookups, Visit, build_facts, same_plate
from gateway.validate import KnownDevice
from registry import store
from registry.identifiers import canonical_plate
from registry.models import Role

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes, bool], None]  # topic, payload, retain
QUEUE_MAX = 1000


@dataclass(frozen=True)
class InspectionUpdate:
    """What listeners (alerts, live dashboard) hear after each decision."""

    inspection_id: str
    site: str
    gate_id: str
    plate: str | None
    result: str
    failed_checks: tuple[str, ...]
    reasons: tuple[str, ...]
    at: datetime
    final: bool


@dataclass(frozen=True)
class _Event:
    device: KnownDevice
    event: dict[str, Any]
    received_at: float


@dataclass(frozen=True)
class _FacesDone:
    visit_id: uuid.UUID
    role: Role
    key: tuple[str, str]
    evidence: FaceEvidence
    timings: dict[str, float]


def _b64(data: object) -> bytes | None:
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


class GatePipeline:
    def __init__(
        self,
        conninfo: str,
        publish: Publish,
        faces: FaceSettings,
        *,
        visit_timeout_s: float,
        face_workers: int = 2,
        policy: CheckPolicy = DEFAULT_POLICY,
    ) -> None:
        self.conninfo = conninfo
        self.policy = policy
        self.publish = publish
        self.faces = faces
        self.visit_timeout_s = visit_timeout_s
        self.inbox: queue.Queue[_Event | _FacesDone] = queue.Queue(QUEUE_MAX)
        self.visits: dict[tuple[str, str], Visit] = {}
        self.listeners: list[Callable[[InspectionUpdate], None]] = []
        self.face_workers = face_workers
        self._pool_instance: ProcessPoolExecutor | None = None  # started in start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hazgate-gate", daemon=True)
        self._conn: psycopg.Connection | None = None
        self._cards: dict[str, Future[CardResult]] = {}  # ID-card photo work, by event id
        self.decisions = 0
        self._pool_broken = False

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def _pool(self) -> ProcessPoolExecutor:
        if self._pool_instance is None:
            raise RuntimeError("the gate pipeline is not started")
        return self._pool_instance

    def start(self) -> None:
        # The workers start now, from this thread, and load the models at start-up rather
        # than on the first tanker of the day (see gateway/face_pool.py).
        self._pool_instance = face_pool(self.face_workers)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        if self._pool_instance is not None:
            # Not waited for: a worker still loading its models (seconds on a busy machine)
            # would hold up the shutdown. The workers exit on their own, and die with this
            # process if it ends first (gateway/face_pool.py).
            self._pool_instance.shutdown(wait=False, cancel_futures=True)
        if self._conn is not None:
            self._conn.close()

    def on_event(self, device: KnownDevice, event: dict[str, Any], received_at: float) -> None:
        """Called by the gate event store once an event is stored (hand-off only)."""
        self.inbox.put(_Event(device, event, received_at))

    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
        return self._conn

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._pool_broken:
                # A face worker died (out of memory, a crash in dlib): start a fresh pool.
                self._pool_broken = False
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool_instance = face_pool(self.face_workers)
            try:
                item = self.inbox.get(timeout=1.0)
            except queue.Empty:
                self._expire()
                continue
            try:
                if isinstance(item, _Event):
                    self._on_event(item)
                else:
                    self._on_faces(item)
            except psycopg.OperationalError as exc:
                # The event is stored; the decision waits for the database. Say so, drop the
                # connection, and let the next event or a retry take it further.
                logger.warning("gate pipeline lost the database: %s", exc)
                self._conn = None
            except Exception:  # one bad event must not stop the gates; logged with its trace
                logger.exception("gate pipeline failed on %r", type(item).__name__)

    # -- events -----------------------------------------------------------------------------
    def _visit_for(self, device: KnownDevice, event: dict[str, Any], now: datetime) -> Visit:
        key = (device.site, device.gate_id or "")
        visit = self.visits.get(key)
        new_plate = event["type"] == "plate" and visit is not None and visit.plate is not None
        if visit is not None and new_plate and not same_plate(visit, event["plate"]):
            self._close(visit, "new_plate")  # the next tanker is at the gate
            visit = None
        if visit is None:
            visit = Visit(site=device.site, gate_id=device.gate_id or "", opened_at=now)
            self.visits[key] = visit
        return visit

    def _on_event(self, item: _Event) -> None:
        now = datetime.now(UTC)
        event = dict(item.event)
        visit = self._visit_for(item.device, event, now)
        if event["type"] == "plate":
            event["plate"] = canonical_plate(event["plate"])
        if event["type"] == "id_card":
            event["photo"] = _b64(event.get("photo_b64")) or b""
        if event["type"] == "face":
            event["image"] = _b64(event.get("image_b64"))
            event["frames"] = [f for f in (_b64(x) for x in event.get("frames_b64") or []) if f]
        if not visit.apply(event, item.received_at, now):
            return  # a duplicate changes nothing
        self._keep_images(visit, event)
        if event["type"] == "id_card":
            # Start on the card photo now: by the time the face arrives, half the work is done.
            self._cards[event["event_id"]] = self._pool.submit(analyze_card, event["photo"], self.faces)
        for role in visit.faces_due():
            self._start_faces(visit, role)
        self._decide(visit, now)

    def _keep_images(self, visit: Visit, event: dict[str, Any]) -> None:
        image = event.get("photo") or event.get("image")
        if not image:
            return
        self._db().execute(
            "INSERT INTO gate_images (event_id, inspection_id, kind, role, image) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (event_id) DO NOTHING",
            (event["event_id"], visit.id, event["type"], event.get("role"), image),
        )

    def _start_faces(self, visit: Visit, role: Role) -> None:
        card, face = visit.id_cards[role], visit.faces[role]
        key = (card.event_id, face.event_id)
        if face.image is None and not face.frames:
            evidence = FaceEvidence(
                threshold=self.faces.match_threshold,
                problem=FaceProblem.FACE_QUALITY,
                problem_message="live face: the image is not valid base64 JPEG/PNG",
            )
            visit.face_evidence[role] = (key, evidence)
            return
        enrolled = None
        person = store.person(self._db(), card.id_number)
        if person is not None:
            enrolled = person.face_encoding
        visit_id = visit.id

        card_future = self._cards.get(card.event_id) or self._pool.submit(analyze_card, card.photo, self.faces)

        def done(evidence: FaceEvidence, timings: dict[str, float]) -> None:
            self.inbox.put(_FacesDone(visit_id, role, key, evidence, timings))

        def failed(exc: BaseException) -> None:
            logger.error("face work failed: %r", exc)
            if isinstance(exc, BrokenProcessPool):
                self._pool_broken = True
            message = "face analysis failed; look at the camera again"
            done(
                FaceEvidence(
                    threshold=self.faces.match_threshold, problem=FaceProblem.FACE_QUALITY, problem_message=message
                ),
                {},
            )

        def compare(card_done: Future[CardResult]) -> None:
            # Runs when the card photo is analysed; the comparison then goes to the pool.
            card_error = card_done.exception()
            if card_error is not None:
                failed(card_error)
                return
            try:
                job = self._pool.submit(face_evidence, card_done.result(), face, enrolled, self.faces)
            except RuntimeError as exc:  # the pool is shutting down or broken
                failed(exc)
                return
            job.add_done_callback(compared)

        def compared(job: Future[tuple[FaceEvidence, dict[str, float]]]) -> None:
            exc = job.exception()
            if exc is not None:
                failed(exc)
            else:
                done(*job.result())

        card_future.add_done_callback(compare)

    def _on_faces(self, item: _FacesDone) -> None:
        visit = next((v for v in self.visits.values() if v.id == item.visit_id), None)
        if visit is None:
            return  # the visit closed meanwhile
        visit.face_evidence[item.role] = (item.key, item.evidence)
        visit.timings.update({f"{item.role.value}_{k}": v for k, v in item.timings.items()})
        self._decide(visit, datetime.now(UTC))

    # -- deciding ---------------------------------------------------------------------------
    def _lookups(self, visit: Visit) -> Lookups:
        conn = self._db()
        vehicle = carrier = None
        status = None
        if visit.plate is not None:
            found = store.vehicle(conn, visit.plate.plate)
            if found is not None:
                vehicle, carrier = found
            status = vehicle_status(conn, visit.plate.plate)
        people = {}
        flags = {}
        for card in visit.id_cards.values():
            person = store.person(conn, card.id_number)
            if person is not None:
                people[card.id_number] = person.record
                flags[card.id_number] = person.flags
        waybill = store.waybill(conn, visit.waybill_no) if visit.waybill_no else None
        return Lookups(vehicle, carrier, people, waybill, status, flags)

    def _decide(self, visit: Visit, now: datetime) -> Decision:
        faces_running = bool(visit.faces_due())
        decision = evaluate(build_facts(visit, self._lookups(visit)), now, self.policy)
        final = decision.result.value != "pending"
        if final:
            visit.decided_at = visit.decided_at or now
        # Stored before it is published: whoever reacts to the decision can read the record.
        latency_ms = (time.time() - visit.last_event_at) * 1000
        self._store(visit, decision, latency_ms, now)
        message = decision_message(visit, decision, latency_ms, faces_running)
        self.publish(f"hazgate/v1/{visit.site}/gates/{visit.gate_id}/decision", message, True)
        if final:
            command = "open" if decision.result.value == "pass" else "hold"
            barrier = json.dumps({"command": command, "inspection_id": str(visit.id)}).encode()
            self.publish(f"hazgate/v1/{visit.site}/gates/{visit.gate_id}/barrier", barrier, False)
        self.decisions += 1
        self._notify(visit, decision, now, final)
        return decision

    def _store(self, visit: Visit, decision: Decision, latency_ms: float, now: datetime) -> None:
        checks = [c.model_dump(mode="json") for c in decision.checks]
        self._db().execute(
            "INSERT INTO inspections (id, site, gate_id, plate, opened_at, updated_at, decided_at, result, checks,"
            " missing, inputs, latency_ms, timings) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET plate = EXCLUDED.plate, updated_at = EXCLUDED.updated_at,"
            " decided_at = EXCLUDED.decided_at, result = EXCLUDED.result, checks = EXCLUDED.checks,"
            " missing = EXCLUDED.missing, inputs = EXCLUDED.inputs, latency_ms = EXCLUDED.latency_ms,"
            " timings = EXCLUDED.timings",
            (
                visit.id,
                visit.site,
                visit.gate_id,
                visit.plate.plate if visit.plate else None,
                visit.opened_at,
                now,
                visit.decided_at,
                decision.result.value,
                json.dumps(checks, ensure_ascii=False),
                json.dumps([m.value for m in decision.missing_inputs]),
                json.dumps(visit.inputs_summary(), ensure_ascii=False),
                latency_ms,
                json.dumps(visit.timings),
            ),
        )

    def _notify(self, visit: Visit, decision: Decision, now: datetime, final: bool) -> None:
        update = InspectionUpdate(
            inspection_id=str(visit.id),
            site=visit.site,
            gate_id=visit.gate_id,
            plate=visit.plate.plate if visit.plate else None,
            result=decision.result.value,
            failed_checks=tuple(c.code.value for c in decision.checks if c.status.value == "fail"),
            reasons=tuple(r.code.value for c in decision.checks for r in c.reasons if r.status.value == "fail"),
            at=now,
            final=final,
        )
        for listener in self.listeners:
            try:
                listener(update)
            except Exception:  # a listener's failure must not undo the decision; logged with its trace
                logger.exception("an inspection listener failed")

    # -- closing ----------------------------------------------------------------------------
    def _close(self, visit: Visit, reason: str) -> None:
        self.visits.pop((visit.site, visit.gate_id), None)
        for card in visit.id_cards.values():
            self._cards.pop(card.event_id, None)
        self._db().execute(
            "UPDATE inspections SET closed_at = now(), close_reason = %s WHERE id = %s", (reason, visit.id)
        )

    def _expire(self) -> None:
        now = datetime.now(UTC)
        for visit in list(self.visits.values()):
            if visit.updated_at and (now - visit.updated_at).total_seconds() > self.visit_timeout_s:
                self._close(visit, "timeout")


def vehicle_status(conn: psycopg.Connection, plate: str) -> VehicleStatusFacts:
    """The vehicle's trackers and open critical alerts on its devices."""
    devices = conn.execute(
        "SELECT device_id, type, last_seen_at FROM devices WHERE plate = %s AND enabled", (plate,)
    ).fetchall()
    gps = next((GpsTracker(device_id=d[0], last_report_at=d[2]) for d in devices if d[1] == "gps_tracker"), None)
    alerts: tuple[OpenAlert, ...] = ()
    ids = [d[0] for d in devices]
    if ids and conn.execute("SELECT to_regclass('alerts')").fetchone() != (None,):
        rows = conn.execute(
            "SELECT id::text, device_id, metric, value, started_at FROM alerts"
            " WHERE device_id = ANY(%s) AND severity = 'critical' AND state <> 'resolved'",
            (ids,),
        ).fetchall()
        alerts = tuple(
            OpenAlert(alert_id=r[0], device_id=r[1], metric=r[2] or "", value=r[3], started_at=r[4]) for r in rows
        )
    return VehicleStatusFacts(open_critical_alerts=alerts, gps_tracker=gps)


def decision_message(visit: Visit, decision: Decision, latency_ms: float, faces_running: bool) -> bytes:
    """The decision topic's payload (contract fields, plus what the kiosk shows)."""
    body = {
        "inspection_id": str(visit.id),
        "plate": visit.plate.plate if visit.plate else None,
        "result": decision.result.value,
        "checks": [
            {
                "code": c.code.value,
                "status": c.status.value,
                "reasons": [
                    {"code": r.code.value, "message": r.message, "message_zh": r.message_zh} for r in c.reasons
                ],
            }
            for c in decision.checks
        ],
        "missing": [
            {"input": m.value, "prompt_zh": MISSING_INPUT_PROMPTS[m][0], "prompt": MISSING_INPUT_PROMPTS[m][1]}
            for m in decision.missing_inputs
        ],
        "comparing_faces": faces_running,
        "latency_ms": round(latency_ms, 1),
        "site": visit.site,
        "gate_id": visit.gate_id,
        "ts": datetime.now(UTC).isoformat(),
    }
    return json.dumps(body, ensure_ascii=False).encode()


__all__ = ["ROLES", "GatePipeline", "InspectionUpdate", "decision_message", "vehicle_status"]
