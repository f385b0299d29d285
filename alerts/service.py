"""The alert service (adapter): the live stream in; alert rows, the outbox and deliveries out.

Threads:
- the evaluator: the only owner of the engine state. It takes what the ingest writer handed
  off (:meth:`AlertService.on_stored`) and what the gate pipeline reports (``on_*`` hooks) from a
  bounded queue, runs the pure engine, and writes the alert changes, the notifications they
  make due, and the new engine state in one transaction. A timer (``alerts.tick_interval_s``)
  drives absence, dwell, escalation, repeats and silences ending, and reloads the rules when
  they changed.
- a listener (LISTEN hazgate_alerts): a rule changed through the API, or an officer
  acknowledged or resolved an alert: run the timer now.
- delivery workers (alerts/delivery.py).

One evaluator per database (a PostgreSQL advisory lock): a second service waits as a standby.
Nothing the ingest stored is skipped: a full queue makes the evaluator catch up from the
database (alerts/replay.py), and so does a restart after a crash. See docs/alerts.md.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

import psycopg

from alerts.delivery import DeliveryWorkers
from alerts.engine import Transition, evaluate, evaluate_all
from alerts.errors import AlertsError, StateFormatError
from alerts.events import DeviceStatus, Event, InspectionFailed, Reading, Tick, VehicleEntered, VehicleLeft
from alerts.replay import readings_since
from alerts.state import EngineState
from alerts.store import (
    ALERTS_CHANNEL,
    AlertConfig,
    config_version,
    load_config,
    load_engine,
    registered_devices,
    save_engine,
)
from alerts.urlcheck import UrlPolicy
from alerts.writer import write_changes
from gateway.router import StoredBatch
from hazgate.settings import Settings

logger = logging.getLogger(__name__)

# Any constant; the same in every hazgate process ("haza").
EVALUATOR_LOCK_KEY: Final = 0x6861_7A61
# A batch's received_at is the start of its transaction, which may precede the moment we
# recorded as evaluated-until by the length of that transaction; replays start this much earlier
# and the watermarks drop what was already evaluated.
REPLAY_MARGIN_S: Final = 10.0
# Queue items folded into one evaluation and one transaction when the evaluator is behind.
COALESCE_ITEMS: Final = 64
# Gate events cannot be replayed from telemetry, so the hooks wait this long for room.
HOOK_PUT_TIMEOUT_S: Final = 5.0
STANDBY_RETRY_S: Final = 5.0
RECONNECT_MAX_S: Final = 10.0

# A queue item: (time.time() when handed off, what). None only wakes the evaluator.
Payload = StoredBatch | tuple[Event, ...] | None
Item = tuple[float, Payload]


class AlertQueueFull(AlertsError):
    """The evaluator is too far behind to take a gate event now; the caller must retry or record it."""


class _Standby(Exception):
    """Another process holds the evaluator lock."""


@dataclass
class AlertStats:
    active: bool = False
    items: int = 0
    readings: int = 0
    transitions: int = 0
    notifications_queued: int = 0
    overflows: int = 0
    replayed: int = 0
    ticks: int = 0
    last_error: str | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AlertService:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.settings = settings
        self.cfg = settings.alerts
        self.clock = clock
        self.url_policy = UrlPolicy(
            allow_loopback=self.cfg.allow_loopback_webhooks, allow_private=self.cfg.allow_private_webhooks
        )
        self.config = AlertConfig(version=-1)
        self.state = EngineState.empty()
        self.watermarks: dict[str, datetime] = {}
        self.stats = AlertStats()
        self.delivery = DeliveryWorkers(settings, self.url_policy, lambda: self.config.subscriptions)
        self._queue: queue.Queue[Item] = queue.Queue(maxsize=self.cfg.queue_max)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._drain_on_stop = True
        self._gap_lock = threading.Lock()
        self._gap = False
        self._conn: psycopg.Connection | None = None
        # Everything handed off before this wall-clock time has been evaluated.
        self._evaluated_until = time.time()
        self._dirty = False
        self._last_save = 0.0
        self._next_tick = 0.0
        self._standby_logged = False
        self._unsaved: list[Event] = []
        self._thread = threading.Thread(target=self._run, name="hazgate-alerts", daemon=True)
        self._listener = threading.Thread(target=self._listen, name="hazgate-alerts-listen", daemon=True)

    # --- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.delivery.start()
        self._listener.start()
        self._thread.start()

    def stop(self, timeout_s: float = 15.0, *, drain: bool = True) -> None:
        """Stop. ``drain``: evaluate what is queued and save the state first. ``drain=False``
        leaves as a crash would (for tests of recovery): the next start catches up."""
        self._drain_on_stop = drain
        self._stop.set()
        self._put_nowait((time.time(), None))
        self._thread.join(timeout_s)
        self._listener.join(timeout_s)
        self.delivery.stop(timeout_s)

    def wake(self) -> None:
        """Run the timer now (rules changed, an officer acted)."""
        self._wake.set()
        self._put_nowait((time.time(), None))

    # --- input: hand off and return ---------------------------------------------------------------

    def on_stored(self, batch: StoredBatch) -> None:
        """Router listener, on the ingest writer thread after each commit: hand off and return.

        When the queue is full the writer waits up to ``alerts.queue_put_timeout_s`` (back
        pressure), then leaves the batch to the catch-up from the database; while a gap is open it
        does not wait at all, so a stalled evaluator never slows ingest for more than once.
        """
        item: Item = (time.time(), batch)
        with self._gap_lock:
            gap = self._gap
        try:
            if gap:
                self._queue.put_nowait(item)
            else:
                self._queue.put(item, timeout=self.cfg.queue_put_timeout_s)
        except queue.Full:
            self._overflow()

    def on_status(
        self,
        device_id: str,
        site: str,
        state: Literal["online", "offline"],
        ts: datetime,
        device_type: str | None = None,
    ) -> None:
        """A device status from outside the stored stream (statuses in StoredBatch arrive by themselves)."""
        self._submit(DeviceStatus(device_id, site, state, ts, device_type))

    def on_inspection_failed(
        self,
        inspection_id: str,
        plate: str,
        site: str,
        gate_id: str,
        ts: datetime,
        failed_checks: Sequence[str],
        reasons: Sequence[str] = (),
    ) -> None:
        """A gate inspection ended ``fail`` (after it was stored); raises AlertQueueFull if no room."""
        self._submit(InspectionFailed(inspection_id, plate, site, gate_id, ts, tuple(failed_checks), tuple(reasons)))

    def on_vehicle_entered(
        self, plate: str, site: str, ts: datetime, gate_id: str | None = None, inspection_id: str | None = None
    ) -> None:
        self._submit(VehicleEntered(plate, site, ts, gate_id, inspection_id))

    def on_vehicle_left(self, plate: str, site: str, ts: datetime, gate_id: str | None = None) -> None:
        self._submit(VehicleLeft(plate, site, ts, gate_id))

    def _submit(self, event: Event) -> None:
        try:
            self._queue.put((time.time(), (event,)), timeout=HOOK_PUT_TIMEOUT_S)
        except queue.Full:
            raise AlertQueueFull(
                f"alert evaluation is {self._queue.qsize()} items behind; {type(event).__name__} not taken"
            ) from None

    def _put_nowait(self, item: Item) -> None:
        # Full: the evaluator is busy and sees the flags after its current item anyway.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(item)

    def _overflow(self) -> None:
        with self._gap_lock:
            opened = not self._gap
            self._gap = True
            self.stats.overflows += 1
        if opened:
            logger.warning(
                "alert evaluation is %d batches behind: new batches are left to a catch-up from the database",
                self._queue.qsize(),
            )

    # --- the evaluator thread ----------------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                if self._conn is None:
                    if self._stop.is_set():
                        return
                    self._activate()
                    delay = 0.5
                if self._stop.is_set():
                    self._finish()
                    return
                self._step()
            except _Standby:
                self._stop.wait(STANDBY_RETRY_S)
            except (psycopg.Error, StateFormatError) as exc:
                self.stats.last_error = str(exc)
                logger.error("alert evaluation interrupted (%s); recovering in %.1f s", exc, delay)
                self._close()
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, RECONNECT_MAX_S)

    def _close(self) -> None:
        self.stats.active = False
        if self._conn is not None:
            try:
                self._conn.close()  # also releases the evaluator lock
            except psycopg.Error:
                logger.debug("closing a broken evaluator connection failed", exc_info=True)
            self._conn = None

    def _activate(self) -> None:
        """Connect, take the evaluator lock, load state and rules, catch up from the database."""
        conn = psycopg.connect(self.settings.db_url, autocommit=True, connect_timeout=5)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (EVALUATOR_LOCK_KEY,)).fetchone()
        if not (row and row[0]):
            conn.close()
            if not self._standby_logged:
                logger.error("another alert evaluator is active on this database; standing by")
                self._standby_logged = True
            raise _Standby
        self._conn = conn
        self._standby_logged = False
        self.config = load_config(conn, self.url_policy)
        saved = load_engine(conn)
        pending, self._unsaved = self._unsaved, []
        with self._gap_lock:
            self._gap = False
        if saved is None:
            # A first start: nothing to catch up on; what is queued is evaluated as it comes.
            self.state, self.watermarks = EngineState.empty(), {}
        else:
            # Whatever waits in the queue is in the database too: the replay below covers it.
            pending += self._discard_batches()
            discarded_at = time.time()
            # Watermarks of devices since removed (benchmarks, decommissioned sensors) go.
            known = registered_devices(conn)
            self.state = saved.state
            self.watermarks = {d: ts for d, ts in saved.watermarks.items() if d in known}
            # Until the replay is through, a crash must make the next start replay as much again.
            self._evaluated_until = saved.resume_from.timestamp()
            self._replay(saved.resume_from)
            self._evaluated_until = discarded_at
        if pending:
            self._apply(pending, {})
        self._checkpoint(force=True)
        self.stats.active = True
        logger.info(
            "alert evaluator active: %d rules, %d subscriptions, %d firing",
            len(self.config.rules),
            len(self.config.subscriptions),
            len(self.state.firing()),
        )
        self._tick()

    def _discard_batches(self) -> list[Event]:
        """Empty the queue; keep the gate events (not in telemetry), drop the batches (replayed)."""
        kept: list[Event] = []
        while True:
            try:
                _, payload = self._queue.get_nowait()
            except queue.Empty:
                return kept
            if isinstance(payload, tuple):
                kept.extend(payload)

    def _replay(self, since: datetime) -> None:
        now = datetime.now(UTC)
        since = max(since - timedelta(seconds=REPLAY_MARGIN_S), now - timedelta(seconds=self.cfg.replay_max_s))
        oldest = since - timedelta(seconds=self.cfg.replay_max_s)
        count = 0
        for events, marks in readings_since(self.settings.db_url, since, oldest, self.watermarks):
            if events:
                self._apply(events, marks)
                count += len(events)
        if count:
            self.stats.replayed += count
            logger.info("alert evaluation caught up on %d readings stored since %s", count, since.isoformat())

    def _step(self) -> None:
        timeout = max(0.0, self._next_tick - time.monotonic())
        items: list[Item] = []
        try:
            items.append(self._queue.get(timeout=timeout))
            while len(items) < COALESCE_ITEMS:
                items.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        with self._gap_lock:
            gap, self._gap = self._gap, False
        if gap:
            kept = [e for _, p in items if isinstance(p, tuple) for e in p] + self._discard_batches()
            discarded_at = time.time()
            self._replay(datetime.fromtimestamp(self._evaluated_until, UTC))
            self._evaluated_until = discarded_at
            if kept:
                self._apply(kept, {})
        elif items:
            events, marks = self._events(items)
            if events or marks:
                self._apply(events, marks)
            self._evaluated_until = items[-1][0]
            self.stats.items += len(items)
        if self._wake.is_set() or time.monotonic() >= self._next_tick:
            self._wake.clear()
            self._tick()
        self._checkpoint()

    def _events(self, items: list[Item]) -> tuple[list[Event], dict[str, datetime]]:
        """Engine events from queued items; readings not newer than their device's watermark are skipped."""
        events: list[Event] = []
        marks: dict[str, datetime] = {}
        for _, payload in items:
            if payload is None:
                continue
            if isinstance(payload, tuple):
                events.extend(payload)
                continue
            for row in sorted(payload.rows, key=lambda r: r.ts):
                mark = marks.get(row.device_id) or self.watermarks.get(row.device_id)
                device = payload.devices.get(row.device_id)
                if device is None or (mark is not None and row.ts <= mark):
                    continue
                marks[row.device_id] = row.ts
                events.append(Reading(row.device_id, row.site, device.type.value, row.ts, row.values))
                self.stats.readings += 1
            for device_id, (state, when) in payload.statuses.items():
                known = payload.devices.get(device_id)
                if known is not None and state in ("online", "offline"):
                    status: Literal["online", "offline"] = "online" if state == "online" else "offline"
                    events.append(DeviceStatus(device_id, known.site, status, when, known.type.value))
        return events, marks

    def _apply(self, events: list[Event], marks: dict[str, datetime]) -> None:
        """Evaluate; alert changes, notifications and state in one transaction when anything fired."""
        state, transitions = evaluate_all(self.config.rules, self.state, events, self.config.context)
        if transitions:
            try:
                self._commit(state, transitions, marks)
            except psycopg.Error:
                # Readings come back from the database on recovery; gate events would not.
                self._unsaved = [e for e in events if not isinstance(e, Reading)]
                raise
        else:
            self._dirty = self._dirty or state is not self.state or bool(marks)
        self.state = state
        self.watermarks.update(marks)

    def _commit(
        self, state: EngineState, transitions: list[Transition], marks: dict[str, datetime], *, tick: bool = False
    ) -> None:
        written = write_changes(
            self._require_conn(),
            config=self.config,
            cfg=self.cfg,
            state=state,
            transitions=transitions,
            watermarks={**self.watermarks, **marks},
            resume_from=self._resume_point(),
            now=self.clock(),
            tick=tick,
        )
        self.state = written.state
        self._dirty = False
        self._last_save = time.monotonic()
        self.stats.transitions += len(transitions)
        self.stats.notifications_queued += written.outbox_rows
        if written.outbox_rows:
            self.delivery.wake()

    def _tick(self) -> None:
        conn = self._require_conn()
        self.stats.ticks += 1
        self._next_tick = time.monotonic() + self.cfg.tick_interval_s
        if config_version(conn) != self.config.version:
            self.config = load_config(conn, self.url_policy)
            logger.info(
                "alert configuration %d: %d rules, %d subscriptions, %d silences",
                self.config.version,
                len(self.config.rules),
                len(self.config.subscriptions),
                len(self.config.silences),
            )
        state, transitions = evaluate(self.config.rules, self.state, Tick(self.clock()), self.config.context)
        self._commit(state, transitions, {}, tick=True)

    def _checkpoint(self, *, force: bool = False) -> None:
        if not (force or (self._dirty and time.monotonic() - self._last_save >= self.cfg.checkpoint_interval_s)):
            return
        save_engine(self._require_conn(), self.state, self.watermarks, self._resume_point())
        self._dirty = False
        self._last_save = time.monotonic()

    def _resume_point(self) -> datetime:
        return datetime.fromtimestamp(self._evaluated_until, UTC)

    def _finish(self) -> None:
        """Stopping: evaluate what is queued (unless told to leave like a crash), save, let go."""
        try:
            if self._drain_on_stop:
                while not self._queue.empty():
                    self._wake.clear()
                    self._next_tick = time.monotonic() + 3600
                    self._step()
                self._checkpoint(force=True)
        finally:
            self._close()

    def _require_conn(self) -> psycopg.Connection:
        if self._conn is None:
            raise psycopg.OperationalError("the alert evaluator has no database connection")
        return self._conn

    # --- the listener thread -------------------------------------------------------------------------

    def _listen(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.settings.db_url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {ALERTS_CHANNEL}")
                    delay = 0.5
                    self.wake()  # whatever changed while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.wake()
            except psycopg.Error as exc:
                logger.warning("alert change listener: %s; reconnecting in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
