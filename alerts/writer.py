"""One transaction per change of the alerts (adapter): rows, notifications, live notice, state.

The evaluator calls :func:`write_changes` with the transitions the engine produced and the
partitions' states and cursors it produced them in; everything they imply is committed together
or not at all, so a restart finds the alerts, the outbox, the engine states and the cursors in
agreement, and replays exactly what was not committed. The partitions' rows are locked first and
must be at the versions this process loaded (a compare-and-set): a process that lost a partition
to another cannot save over it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import psycopg

from alerts.config import AlertConfig
from alerts.engine import Transition, release
from alerts.lifecycle import Alert, fold
from alerts.outbox import queue_due
from alerts.state import EngineState, fingerprint
from alerts.store import (
    PartitionSave,
    lock_open_alerts,
    lock_partitions,
    lock_unsettled,
    mark_settled,
    notify_stream,
    open_fingerprints,
    save_partitions,
    write_alerts,
)
from hazgate.settings import AlertsSettings


@dataclass(frozen=True, slots=True)
class Written:
    saved: dict[int, PartitionSave]  # as saved: a tick may have released pairs resolved by hand
    outbox_rows: int
    alerts_changed: int


def write_changes(
    conn: psycopg.Connection,
    *,
    config: AlertConfig,
    cfg: AlertsSettings,
    partitions: Sequence[PartitionSave],
    dirty: Collection[int],
    transitions: list[Transition],
    now: datetime,
    tick: bool,
) -> Written:
    """Fold ``transitions`` into the alerts, queue what is due, announce, save the partitions.

    ``partitions``: the ones this commit speaks for (locked, version-checked); those in ``dirty``
    are saved, and on a tick those whose state the reconciliation changed. ``tick``: also release
    engine pairs whose alert an officer resolved, and look at every alert of these partitions not
    yet settled (escalations, repeats, silences that ended), not only the changed ones.
    """
    with conn.transaction():
        lock_partitions(conn, {p.part: p.version for p in partitions})
        changed, transient = fold_into_store(conn, transitions)
        # An alert that opened and closed within this transaction is announced as it was when
        # it fired, then as resolved: a brief breach must not pass unnoticed.
        rows, _ = queue_due(conn, transient, config, cfg, now)
        states = {p.part: p.state for p in partitions}
        if tick:
            states = reconcile(conn, states)
            todo = lock_unsettled(conn, states)
        else:
            todo = changed
        more, done = queue_due(conn, todo, config, cfg, now)
        mark_settled(conn, done)
        notify_stream(conn, changed)
        saves = [
            replace(p, state=states[p.part], state_changed=p.state_changed or states[p.part] is not p.state)
            for p in partitions
            if p.part in dirty or states[p.part] is not p.state
        ]
        save_partitions(conn, saves)
    return Written({s.part: s for s in saves}, rows + more, len(changed))


def fold_into_store(conn: psycopg.Connection, transitions: list[Transition]) -> tuple[list[Alert], list[Alert]]:
    """Fold transitions into the open alerts (locked); (alerts changed, opening versions of those
    that opened and resolved within these transitions)."""
    if not transitions:
        return [], []
    current: dict[str, Alert] = lock_open_alerts(conn, (t.fingerprint for t in transitions))
    changed: dict[str, Alert] = {}
    opened: dict[str, Alert] = {}
    for t in transitions:
        after = fold(current.get(t.fingerprint), t)
        if after is None:
            continue  # resolved by an officer meanwhile; the next tick releases the pair
        if t.kind == "fire" and after.id not in changed:
            opened[after.id] = after
        current[t.fingerprint] = after
        changed[after.id] = after
    write_alerts(conn, changed.values())
    transient = [a for aid, a in opened.items() if not changed[aid].is_open]
    return list(changed.values()), transient


def reconcile(conn: psycopg.Connection, states: Mapping[int, EngineState]) -> dict[int, EngineState]:
    """Forget pairs the engine thinks firing whose alert an officer resolved (engine.release)."""
    by_fp = {
        fingerprint(rule_id, subject): (part, rule_id, subject)
        for part, state in states.items()
        for rule_id, subject in state.firing()
    }
    out = dict(states)
    if not by_fp:
        return out
    still_open = open_fingerprints(conn, by_fp)
    for fp, (part, rule_id, subject) in by_fp.items():
        if fp not in still_open:
            out[part] = release(out[part], rule_id, subject)
    return out
