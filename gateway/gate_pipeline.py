"""The gate pipeline: typed gate events → passages → face work → the checks → decision, barrier, record.

One thread owns the passages (no locks on them); face comparisons run in worker processes
(gateway/face_work.py) and come back as work items, so a slow face never holds up another gate's
events, and never telemetry, which has its own threads. SQL is in gateway/gate_store.py, the
published messages in gateway/gate_messages.py.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from alerts import inputs
from alerts.events import InspectionFailed, VehicleEntered
from alerts.inputs import InputEvent
from checks import DEFAULT_POLICY, CheckPolicy, CheckStatus, Decision, FaceEvidence
from checks.booking import admitting
from checks.entry import evaluate_entry
from checks.exit_gate import evaluate_exit
from checks.stay_facts import BookingFacts, Subjects
from gateway import gate_store
from gateway.face_work import FaceWork
from gateway.faces import FaceSettings
from gateway.gate_messages import barrier_command, barrier_payload, barrier_topic, decision_payload, decision_topic
from gateway.passage import Direction, Passage, build_facts
from gateway.payloads import GateEvent, IdCardEvent, PlateEvent
from gateway.validate import KnownDevice
from hazgate.topics import DeviceKind, device_topic
from registry.identifiers import canonical_plate
from registry.models import Role
from stays import bookings, lifecycle
from stays import queue as lot_queue
from stays.blacklist import DEFAULT_LOOKUP, BlacklistLookup
from stays.errors import StayError

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes, bool], None]  # topic, payload, retain
QUEUE_MAX = 1000
# Bookings whose slot ended unused are marked expired this often (also when they are read).
EXPIRE_BOOKINGS_EVERY_S = 60.0


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
    direction: str = "entry"
    visit_id: str | None = None


@dataclass(frozen=True)
class _Event:
    device: KnownDevice
    event: GateEvent
    received_at: float


@dataclass(frozen=True)
class _FacesDone:
    passage_id: uuid.UUID
    role: Role
    key: tuple[str, str]
    evidence: FaceEvidence
    timings: dict[str, float]


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
        blacklist: BlacklistLookup = DEFAULT_LOOKUP,
    ) -> None:
        self.conninfo = conninfo
        self.policy = policy
        # Where the blacklist is read (stays/blacklist.py), and where a stay's end goes for
        # alert evaluation (stays/departures.py): set by whoever assembles the service.
        self.blacklist = blacklist
        self._bookings_expired_at = 0.0
        self.publish = publish
        self.faces = faces
        self.visit_timeout_s = visit_timeout_s
        self.inbox: queue.Queue[_Event | _FacesDone] = queue.Queue(QUEUE_MAX)
        self.passages: dict[tuple[str, str], Passage] = {}  # the open passage of each gate
        self.listeners: list[Callable[[InspectionUpdate], None]] = []
        self.face_work = FaceWork(faces, face_workers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hazgate-gate", daemon=True)
        self._conn: psycopg.Connection | None = None
        self.decisions = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.face_work.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.face_work.stop()
        if self._conn is not None:
            self._conn.close()

    def on_event(self, device: KnownDevice, event: GateEvent, received_at: float) -> None:
        """Called by the gate event store once an event is stored (hand-off only)."""
        self.inbox.put(_Event(device, event, received_at))

    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
        return self._conn

    def _check_db(self) -> None:
        """A connection idle across a database restart is dead without knowing it, and an event
        failing on it would get no decision: ask it first (gate events are few)."""
        if self._conn is None or self._conn.closed:
            return
        try:
            self._conn.execute("SELECT 1")
        except psycopg.OperationalError:
            logger.info("gate pipeline: the database connection was lost; reconnecting")
            self._conn.close()
            self._conn = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.face_work.renew_if_broken()
            try:
                item: _Event | _FacesDone | None = self.inbox.get(timeout=1.0)
            except queue.Empty:
                item = None
            try:
                if item is None:
                    self._expire()
                    continue
                self._check_db()
                if isinstance(item, _Event):
                    self._on_event(item)
                else:
                    self._on_faces(item)
            except psycopg.OperationalError as exc:
                # The event is stored; the decision (or the expiry sweep) waits for the database.
                # Say so, drop the connection, and let the next event or a retry take it further.
                logger.warning("gate pipeline lost the database: %s", exc)
                self._conn = None
            except Exception:  # one bad event must not stop the gates; logged with its trace
                logger.exception("gate pipeline failed on %s", type(item).__name__ if item else "housekeeping")

    # -- events -----------------------------------------------------------------------------
    def _passage_for(self, device: KnownDevice, event: GateEvent, now: datetime) -> Passage:
        key = (device.site, device.gate_id or "")
        passage = self.passages.get(key)
        if (
            passage is not None
            and isinstance(event, PlateEvent)
            and passage.plate is not None
            and not passage.same_plate(event.plate)
        ):
            self._close(passage, "new_plate")  # the next tanker is at the gate
            passage = None
        if passage is None:
            passage = Passage(site=device.site, gate_id=device.gate_id or "", opened_at=now)
            self.passages[key] = passage
        return passage

    def _on_event(self, item: _Event) -> None:
        now = datetime.now(UTC)
        event = item.event
        conn = self._db()
        kind = gate_store.gate_kind(conn, item.device.site, item.device.gate_id or "")
        if kind == gate_store.LOT:
            self._at_lot(item, now)
            return
        passage = self._passage_for(item.device, event, now)
        if passage.direction is None and kind is not Direction.BOTH:
            passage.direction = Direction(kind)
        if not passage.apply(event, item.received_at, now):
            return  # a duplicate changes nothing
        if passage.direction is None and passage.plate is not None:
            # A gate both ways: a tanker inside is leaving, any other is coming in.
            inside = gate_store.is_inside(conn, passage.site, passage.plate.plate)
            passage.direction = Direction.EXIT if inside else Direction.ENTRY
        for kind, role, image in passage.images(event):
            gate_store.keep_image(conn, str(event.event_id), passage.id, kind, role, image)
        if isinstance(event, IdCardEvent):
            self.face_work.card_read(passage.id_cards[Role(event.role)])
        for role in passage.faces_due():
            self._start_faces(passage, role)
        self._decide(passage, now)

    def _start_faces(self, passage: Passage, role: Role) -> None:
        card, face = passage.id_cards[role], passage.faces[role]
        key = (card.event_id, face.event_id)
        if not face.usable:
            evidence = self.face_work.problem("live face: the image is not valid base64 JPEG/PNG")
            passage.face_evidence[role] = (key, evidence)
            return
        enrolled = gate_store.enrolled_encoding(self._db(), card.id_number)
        passage_id = passage.id

        def done(evidence: FaceEvidence, timings: dict[str, float]) -> None:
            self.inbox.put(_FacesDone(passage_id, role, key, evidence, timings))

        self.face_work.compare(card, face, enrolled, done)

    def _on_faces(self, item: _FacesDone) -> None:
        passage = next((p for p in self.passages.values() if p.id == item.passage_id), None)
        if passage is None:
            return  # the passage closed meanwhile
        passage.face_evidence[item.role] = (item.key, item.evidence)
        passage.timings.update({f"{item.role.value}_{k}": v for k, v in item.timings.items()})
        self._decide(passage, datetime.now(UTC))

    # -- the waiting lot ----------------------------------------------------------------------
    def _at_lot(self, item: _Event, now: datetime) -> None:
        """A lot camera's plate read queues the tanker; a refusal is recorded with its reason."""
        event, device = item.event, item.device
        if not isinstance(event, PlateEvent):
            return  # a lot has a plate camera only; other events are stored and need nothing more
        topic = device_topic(device.site, device.device_id, DeviceKind.EVENT)
        conn = self._db()
        plate = canonical_plate(event.plate)
        if event.confidence < self.policy.plate_min_confidence:
            detail = f"plate read as {plate} with {event.confidence:.0%} confidence: not queued on a doubtful read"
            gate_store.reject(conn, device, topic, "plate_low_confidence", detail)
            return
        try:
            lot_queue.arrive(
                conn,
                site=device.site,
                lot_id=device.gate_id or "",
                plate=plate,
                at=now,
                source=f"camera {device.device_id}",
                policy=self.policy,
            )
        except StayError as exc:
            gate_store.reject(conn, device, topic, exc.code, f"{plate}: {exc.message}")

    # -- deciding ---------------------------------------------------------------------------
    def _decide(self, passage: Passage, now: datetime) -> Decision:
        conn = self._db()
        faces_running = bool(passage.faces_due())
        direction = passage.direction or Direction.ENTRY
        booking_facts = BookingFacts()
        if direction is Direction.EXIT:
            decision = evaluate_exit(gate_store.exit_facts(conn, passage), now, self.policy)
        else:
            facts = build_facts(passage, gate_store.lookups(conn, passage))
            booking_facts = gate_store.booking_facts(
                conn, passage.site, facts.plate.plate if facts.plate else None, now
            )
            listings = self.blacklist(conn, Subjects.at_gate(facts), now)
            decision = evaluate_entry(facts, listings, booking_facts, now, self.policy)
        command = barrier_command(decision.result)
        if command is not None:
            passage.decided_at = passage.decided_at or now
        # Stored before it is published: whoever reacts to the decision can read the record. A
        # final result that changed is an alert input, committed with the record (or neither).
        latency_ms = (time.time() - passage.last_event_at) * 1000
        alert_input = _alert_input(passage, direction, decision, now) if command is not None else None
        with conn.transaction():
            gate_store.save_inspection(conn, passage, decision, latency_ms, now)
            if alert_input is not None:
                inputs.record(conn, alert_input)
        if command is not None:
            passage.alerted_result = decision.result
        if command is not None and passage.plate is not None and passage.stay_result is not decision.result:
            passage.stay_result = decision.result
            passage.visit_id = self._stay(passage, direction, decision, booking_facts, now) or passage.visit_id
        message = decision_payload(
            inspection_id=str(passage.id),
            site=passage.site,
            gate_id=passage.gate_id,
            plate=passage.plate.plate if passage.plate else None,
            direction=direction.value,
            decision=decision,
            latency_ms=latency_ms,
            comparing_faces=faces_running,
            now=now,
            visit_id=None if passage.visit_id is None else str(passage.visit_id),
        )
        self.publish(decision_topic(passage.site, passage.gate_id), message, True)
        if command is not None:
            barrier = barrier_payload(
                command, str(passage.id), visit_id=None if passage.visit_id is None else str(passage.visit_id)
            )
            self.publish(barrier_topic(passage.site, passage.gate_id), barrier, False)
        self.decisions += 1
        self._notify(passage, decision, now, command is not None)
        return decision

    def _stay(
        self, passage: Passage, direction: Direction, decision: Decision, booking_facts: BookingFacts, now: datetime
    ) -> uuid.UUID | None:
        """A decided result changed: the tanker's stay follows (inside on an entry pass, closed on an exit pass)."""
        assert passage.plate is not None
        reasons = [r.code.value for c in decision.checks for r in c.reasons if r.status is CheckStatus.FAIL]
        conn = self._db()
        plate, result = passage.plate.plate, decision.result.value
        if direction is Direction.EXIT:
            return lifecycle.exit_decided(
                conn,
                site=passage.site,
                gate_id=passage.gate_id,
                plate=plate,
                inspection_id=passage.id,
                result=result,
                at=now,
                reasons=reasons,
            )
        booking = admitting(booking_facts, now, self.policy)
        return lifecycle.entry_decided(
            conn,
            site=passage.site,
            gate_id=passage.gate_id,
            plate=plate,
            inspection_id=passage.id,
            result=result,
            at=now,
            reasons=reasons,
            waybill_no=passage.waybill_no,
            booking_id=None if booking is None else uuid.UUID(booking.id),
        )

    def _notify(self, passage: Passage, decision: Decision, now: datetime, final: bool) -> None:
        update = InspectionUpdate(
            inspection_id=str(passage.id),
            site=passage.site,
            gate_id=passage.gate_id,
            plate=passage.plate.plate if passage.plate else None,
            result=decision.result.value,
            failed_checks=tuple(c.code.value for c in decision.checks if c.status.value == "fail"),
            reasons=tuple(r.code.value for c in decision.checks for r in c.reasons if r.status.value == "fail"),
            at=now,
            final=final,
            direction=(passage.direction or Direction.ENTRY).value,
            visit_id=None if passage.visit_id is None else str(passage.visit_id),
        )
        for listener in self.listeners:
            try:
                listener(update)
            except Exception:  # a listener's failure must not undo the decision; logged with its trace
                logger.exception("an inspection listener failed")

    # -- closing ----------------------------------------------------------------------------
    def _close(self, passage: Passage, reason: str) -> None:
        self.passages.pop((passage.site, passage.gate_id), None)
        self.face_work.forget(list(passage.id_cards.values()))
        gate_store.close_inspection(self._db(), passage.id, reason)

    def _expire(self) -> None:
        now = datetime.now(UTC)
        for passage in list(self.passages.values()):
            if passage.updated_at and (now - passage.updated_at).total_seconds() > self.visit_timeout_s:
                self._close(passage, "timeout")
        if time.monotonic() - self._bookings_expired_at > EXPIRE_BOOKINGS_EVERY_S:
            self._bookings_expired_at = time.monotonic()
            bookings.expire(self._db(), now)


__all__ = ["GatePipeline", "InspectionUpdate"]


def _alert_input(passage: Passage, direction: Direction, decision: Decision, now: datetime) -> InputEvent | None:
    """What alert rules hear of a final decision: a failed inspection, or a tanker let in (for
    dwell rules; an exit's pass is the stay's end, stays.departures). The gate republishes a
    decision after every late event; only a change of the final result is an input, so a rule
    sees each failure, and each entry, once."""
    if passage.plate is None or decision.result is passage.alerted_result:
        return None
    if decision.result is CheckStatus.FAIL:
        failed = tuple(c.code.value for c in decision.checks if c.status is CheckStatus.FAIL)
        reasons = tuple(r.code.value for c in decision.checks for r in c.reasons if r.status is CheckStatus.FAIL)
        return InspectionFailed(
            str(passage.id), passage.plate.plate, passage.site, passage.gate_id, now, failed, reasons
        )
    if decision.result is CheckStatus.PASS and direction is not Direction.EXIT:
        return VehicleEntered(passage.plate.plate, passage.site, now, passage.gate_id, str(passage.id))
    return None
