"""Evaluating the owned partitions and committing what they produce (adapter).

Each owned partition has its engine state and its cursor in memory, and as last saved. Reading a
chunk of the stored stream (alerts/reader.py) runs the pure engine on each partition's events;
when anything fired, updated or resolved, the alert changes, their notifications and the new
states and cursors of those partitions are committed in one transaction (alerts/writer.py).
Otherwise the partitions are saved at the next checkpoint: until then a crash replays the same
inputs from the same saved state, which the deterministic engine turns into the same result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import psycopg

from alerts.config import AlertConfig
from alerts.engine import Transition, evaluate, evaluate_all, evaluate_late
from alerts.events import Event, Reading, Tick
from alerts.reader import Chunk, read_chunk
from alerts.state import EngineState
from alerts.store import PartitionSave, SavedPartition, Watermarks
from alerts.writer import Written, write_changes
from hazgate.settings import AlertsSettings

logger = logging.getLogger(__name__)

# Readings one read aims for while catching up: bounds memory and the size of one commit.
CHUNK_ROWS: Final = 20_000
MIN_SPAN: Final = 16
# A device silent this long loses its watermark (a reading older than it is then evaluated).
WATERMARK_KEEP_S: Final = 7 * 24 * 3600
MAX_SPAN: Final = 1 << 30


@dataclass(slots=True)
class PartitionRun:
    """One owned partition: where its evaluation stands in memory, and as saved."""

    part: int
    cursor: int
    state: EngineState
    version: int
    evaluated_until: datetime
    marks: Watermarks
    saved_cursor: int
    saved_state: EngineState
    marks_moved: bool = False

    @classmethod
    def adopt(cls, saved: SavedPartition, now: datetime) -> PartitionRun:
        # Devices not heard from for a long time (removed, or moved away) are forgotten.
        horizon = now - timedelta(seconds=WATERMARK_KEEP_S)
        marks = {device: ts for device, ts in saved.watermarks.items() if ts > horizon}
        return cls(
            saved.part,
            saved.cursor,
            saved.state,
            saved.version,
            saved.evaluated_until,
            marks,
            saved.cursor,
            saved.state,
        )

    @property
    def state_moved(self) -> bool:
        return self.state is not self.saved_state or self.marks_moved

    @property
    def dirty(self) -> bool:
        return self.cursor != self.saved_cursor or self.state_moved

    def fresh(self, events: list[Event]) -> tuple[list[Event], list[Reading]]:
        """(readings not older than their device's newest evaluated one and every other input,
        the late readings: stamped before a reading of their device already evaluated, judged
        apart by :func:`alerts.engine.evaluate_late`); ``events`` are in time-stamp order."""
        out: list[Event] = []
        marks = self.marks
        late: list[Reading] = []
        for event in events:
            if isinstance(event, Reading):
                mark = marks.get(event.device_id)
                if mark is not None and event.ts < mark:
                    late.append(event)
                    continue
                # Stamped alike is not late: a device may send several metrics as separate
                # readings of one instant (the engine judges each rule's metric on its own).
                marks[event.device_id] = event.ts
                self.marks_moved = True
            out.append(event)
        return out, late

    def as_save(self) -> PartitionSave:
        return PartitionSave(
            self.part,
            self.version,
            self.cursor,
            self.state,
            self.evaluated_until,
            dict(self.marks),
            self.state_moved,
        )

    def saved(self, save: PartitionSave) -> None:
        self.version += 1
        self.state = self.saved_state = save.state
        self.saved_cursor = save.cursor
        if save.state_changed:
            self.marks_moved = False


@dataclass
class EvaluationStats:
    readings: int = 0
    inputs: int = 0
    transitions: int = 0
    commits: int = 0
    notifications_queued: int = 0
    ticks: int = 0
    late: int = 0  # readings older than their device's newest evaluated one, judged apart (evaluate_late)


@dataclass
class Evaluation:
    """The owned partitions of one process. Used by its evaluator thread only."""

    cfg: AlertsSettings
    clock: Callable[[], datetime]
    on_outbox: Callable[[], None] = lambda: None
    runs: dict[int, PartitionRun] = field(default_factory=dict)
    stats: EvaluationStats = field(default_factory=EvaluationStats)
    span: int = MIN_SPAN * 4  # transaction ids per read while catching up (adapted)

    def adopt(self, saved: Iterable[SavedPartition]) -> None:
        now = self.clock()
        for s in saved:
            self.runs[s.part] = PartitionRun.adopt(s, now)

    def drop(self, parts: Iterable[int] | None = None) -> None:
        """Forget partitions (all when None): after releasing them, or when the session broke."""
        if parts is None:
            self.runs.clear()
        for part in parts or ():
            self.runs.pop(part, None)

    def cursor_floor(self) -> int | None:
        return min((r.cursor for r in self.runs.values()), default=None)

    # --- the stream ---------------------------------------------------------------------------------

    def drain(self, conn: psycopg.Connection, config: AlertConfig, x: int, complete_at: datetime, until: float) -> int:
        """Evaluate every owned partition up to ``x``, or until ``time.monotonic()`` passes
        ``until`` (a backlog is evaluated over several rounds, so that ownership rounds go on
        meanwhile: another process can take half of it); the number of inputs evaluated.

        Partitions at the same cursor are read together; one taken over a moment ago, further
        back, catches up first (in chunks) and then joins the others.
        """
        done = 0
        while True:
            behind = [r for r in self.runs.values() if r.cursor < x]
            if not behind or (done and time.monotonic() > until):
                return done
            lower = min(r.cursor for r in behind)
            group = sorted(r.part for r in behind if r.cursor == lower)
            upper = min([x, lower + self.span, *(r.cursor for r in behind if r.cursor > lower)])
            chunk = read_chunk(conn, group, lower, upper)
            self._adapt_span(chunk, upper - lower)
            done += self._apply(conn, config, group, chunk, complete_at if chunk.upper == x else None)

    def _adapt_span(self, chunk: Chunk, span: int) -> None:
        """Transaction ids per read, so that one read holds about CHUNK_ROWS readings: a backlog is
        read in bounded steps (a transaction stores at most one ingest batch, 2,000 by default)."""
        if chunk.readings > CHUNK_ROWS:
            self.span = max(MIN_SPAN, span // 2)
        elif chunk.readings < CHUNK_ROWS // 4 and span >= self.span:
            self.span = min(MAX_SPAN, self.span * 2)

    def _apply(
        self, conn: psycopg.Connection, config: AlertConfig, group: list[int], chunk: Chunk, until: datetime | None
    ) -> int:
        transitions: list[Transition] = []
        touched: list[int] = []
        for part in group:
            run = self.runs[part]
            events, late = run.fresh(chunk.events.get(part, []))
            self.stats.late += len(late)
            before = len(transitions)
            if events:
                run.state, produced = evaluate_all(config.rules_for(part), run.state, events, config.context)
                transitions.extend(produced)
            for reading in late:
                run.state, produced = evaluate_late(config.rules_for(part), run.state, reading)
                transitions.extend(produced)
            if len(transitions) > before:
                touched.append(part)
            run.cursor = chunk.upper
            if until is not None:
                run.evaluated_until = until
        self.stats.readings += chunk.readings
        self.stats.inputs += chunk.inputs
        if transitions:
            self._commit(conn, config, touched, set(touched), transitions, tick=False)
        return chunk.readings + chunk.inputs

    # --- time ---------------------------------------------------------------------------------------

    def tick(self, conn: psycopg.Connection, config: AlertConfig, now: datetime, *, checkpoint: bool) -> None:
        """Time-based rules of every owned partition, then escalations, repeats and ended
        silences of their alerts; partitions with changes are saved, and on a ``checkpoint``
        every partition whose cursor or state moved.

        A partition ticks at ``now``, or at the time its evaluation has reached if that is
        earlier (one catching up a backlog): a device whose readings are stored but not yet
        evaluated is not silent."""
        if not self.runs:
            return
        self.stats.ticks += 1
        transitions: list[Transition] = []
        must_save: set[int] = set()
        for part, run in sorted(self.runs.items()):
            when = Tick(min(now, run.evaluated_until))
            run.state, produced = evaluate(config.rules_for(part), run.state, when, config.context)
            if produced:
                transitions.extend(produced)
                must_save.add(part)
        if checkpoint:
            must_save |= {p for p, r in self.runs.items() if r.dirty}
        self._commit(conn, config, sorted(self.runs), must_save, transitions, tick=True)

    def checkpoint(self, conn: psycopg.Connection, config: AlertConfig, parts: Iterable[int] | None = None) -> None:
        """Save partitions whose cursor or state moved (before releasing them, when stopping)."""
        chosen = sorted(self.runs if parts is None else parts)
        dirty = {p for p in chosen if self.runs[p].dirty}
        if dirty:
            self._commit(conn, config, sorted(dirty), dirty, [], tick=False)

    def _commit(
        self,
        conn: psycopg.Connection,
        config: AlertConfig,
        parts: list[int],
        dirty: set[int],
        transitions: list[Transition],
        *,
        tick: bool,
    ) -> Written:
        written = write_changes(
            conn,
            config=config,
            cfg=self.cfg,
            partitions=[self.runs[p].as_save() for p in parts],
            dirty=dirty,
            transitions=transitions,
            now=self.clock(),
            tick=tick,
        )
        for part, save in written.saved.items():
            self.runs[part].saved(save)
        self.stats.commits += 1
        self.stats.transitions += len(transitions)
        self.stats.notifications_queued += written.outbox_rows
        if written.outbox_rows:
            self.on_outbox()
        return written
