"""One transaction per change of the alerts (adapter): rows, notifications, live notice, state.

The evaluator calls :func:`write_changes` with the transitions the engine produced and the state
it produced them in; everything they imply is committed together or not at all, so a restart
finds the alerts, the outbox and the engine state in agreement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import psycopg

from alerts.engine import Transition, release
from alerts.lifecycle import Alert, fold
from alerts.outbox import queue_due
from alerts.state import EngineState, fingerprint
from alerts.store import (
    AlertConfig,
    lock_open_alerts,
    lock_unsettled,
    mark_settled,
    notify_stream,
    open_fingerprints,
    save_engine,
    write_alerts,
)
from hazgate.settings import AlertsSettings


@dataclass(frozen=True, slots=True)
class Written:
    state: EngineState  # as saved: a tick may have released pairs resolved by hand
    outbox_rows: int


def write_changes(
    conn: psycopg.Connection,
    *,
    config: AlertConfig,
    cfg: AlertsSettings,
    state: EngineState,
    transitions: list[Transition],
    watermarks: Mapping[str, datetime],
    resume_from: datetime,
    now: datetime,
    tick: bool,
) -> Written:
    """Fold ``transitions`` into the alerts, queue what is due, announce, save ``state``.

    ``tick``: also release engine pairs whose alert an officer resolved, and look at every alert
    not yet settled (escalations, repeats, silences that ended), not only the changed ones.
    """
    with conn.transaction():
        changed, transient = fold_into_store(conn, transitions)
        # An alert that opened and closed within this transaction is announced as it was when
        # it fired, then as resolved: a brief breach must not pass unnoticed.
        rows, _ = queue_due(conn, transient, config, cfg, now)
        if tick:
            state = reconcile(conn, state)
            todo = lock_unsettled(conn)
        else:
            todo = changed
        more, done = queue_due(conn, todo, config, cfg, now)
        mark_settled(conn, done)
        notify_stream(conn, changed)
        save_engine(conn, state, watermarks, resume_from)
    return Written(state, rows + more)


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


def reconcile(conn: psycopg.Connection, state: EngineState) -> EngineState:
    """Forget pairs the engine thinks firing whose alert an officer resolved (engine.release)."""
    pairs = state.firing()
    if not pairs:
        return state
    by_fp = {fingerprint(rule_id, subject): (rule_id, subject) for rule_id, subject in pairs}
    still_open = open_fingerprints(conn, by_fp)
    for fp, (rule_id, subject) in by_fp.items():
        if fp not in still_open:
            state = release(state, rule_id, subject)
    return state
