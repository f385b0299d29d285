"""Rule evaluation on the live stream: ``evaluate(rules, state, event) -> (state, transitions)``.

Pure and deterministic: the result depends only on the arguments, time is the events' own
timestamps (``Tick.now`` for time-based rules), and rules are visited in sorted id order, so
replaying the same events from the same saved state gives the same transitions. See
docs/alerts.md for the behaviour of each rule kind.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from alerts import positions
from alerts.context import EMPTY_CONTEXT, EngineContext
from alerts.events import (
    DeviceStatus,
    Event,
    InspectionFailed,
    Reading,
    Tick,
    VehicleEntered,
    VehicleLeft,
    normalize_plate,
)
from alerts.models import (
    AbsenceRule,
    DwellRule,
    FlagRule,
    GateFailureRule,
    OffRouteRule,
    PositionRule,
    RateRule,
    Rule,
    Severity,
    SpeedingRule,
    StopRule,
    ThresholdRule,
    ZoneRule,
    holds,
    is_cleared,
)
from alerts.state import EngineState, RuleState, SubjectState, fingerprint

# A rate is only judged once its oldest point lies at least half a window back: two readings a
# few milliseconds apart after a start or a gap would otherwise give wild slopes from noise.
RATE_MIN_SPAN_FRACTION: Final = 0.5
# Points kept per rate subject; beyond it every other point is dropped (the newest always kept),
# which coarsens the reference point but bounds the saved state of fast-reporting devices.
RATE_MAX_POINTS: Final = 64

Details = dict[str, str | float | list[str] | None]


class Transition(BaseModel):
    """A change of one (rule, subject) pair: ``fire`` opens an alert, ``update`` refreshes it, ``resolve`` ends it.

    ``repeat`` on an update means the condition was met afresh (a reading past the bound, another
    failed inspection): it counts towards the alert's ``count``. An update with ``repeat`` False only
    refreshes the value (a reading inside the hysteresis band). ``ts`` is the event time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["fire", "update", "resolve"]
    rule_id: str
    rule_name: str
    rule_kind: str
    severity: Severity
    subject: str
    fingerprint: str
    ts: datetime
    reason: str
    summary: str
    site: str | None = None
    device_id: str | None = None
    device_type: str | None = None
    metric: str | None = None
    value: float | None = None
    repeat: bool = False
    details: Details = {}


class _Changes:
    """Copy-on-write view of an EngineState: only the subject maps that change are copied."""

    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.subjects: dict[str, dict[str, SubjectState]] = {}
        self.meta: dict[str, tuple[str, str, Severity]] = {}

    def get(self, rule_id: str, subject: str) -> SubjectState | None:
        subs = self.subjects.get(rule_id)
        if subs is not None:
            return subs.get(subject)
        return self.state.subject(rule_id, subject)

    def all(self, rule_id: str) -> Mapping[str, SubjectState]:
        subs = self.subjects.get(rule_id)
        if subs is not None:
            return subs
        rs = self.state.rules.get(rule_id)
        return {} if rs is None else rs.subjects

    def put(self, rule_id: str, rule: Rule, subject: str, new: SubjectState | None) -> None:
        subs = self.subjects.get(rule_id)
        if subs is None:
            rs = self.state.rules.get(rule_id)
            subs = dict(rs.subjects) if rs is not None else {}
            self.subjects[rule_id] = subs
        self.meta[rule_id] = (rule.kind, rule.name, rule.severity)
        if new is None:
            subs.pop(subject, None)
        else:
            subs[subject] = new

    def drop(self, rule_id: str) -> None:
        self.subjects[rule_id] = {}
        self.meta.pop(rule_id, None)

    def build(self) -> EngineState:
        if not self.subjects:
            return self.state
        rules = dict(self.state.rules)
        for rule_id, subs in self.subjects.items():
            if not subs:
                rules.pop(rule_id, None)
                continue
            meta = self.meta.get(rule_id)
            old = rules.get(rule_id)
            if meta is None and old is not None:
                meta = (old.kind, old.name, old.severity)
            assert meta is not None
            kind, name, severity = meta
            # Everything in it is already valid: construct without revalidating every subject.
            rules[rule_id] = RuleState.model_construct(kind=kind, name=name, severity=severity, subjects=subs)
        return self.state.model_copy(update={"rules": rules})


def _transition(
    kind: Literal["fire", "update", "resolve"],
    rule_id: str,
    rule: Rule | RuleState,
    subject: str,
    ts: datetime,
    reason: str,
    summary: str,
    st: SubjectState | None = None,
    **fields: object,
) -> Transition:
    context: dict[str, object] = {}
    if st is not None:
        context = {"site": st.site, "device_id": st.device_id, "device_type": st.device_type}
    context.update(fields)
    return Transition.model_validate(
        {
            "kind": kind,
            "rule_id": rule_id,
            "rule_name": rule.name,
            "rule_kind": rule.kind,
            "severity": rule.severity,
            "subject": subject,
            "fingerprint": fingerprint(rule_id, subject),
            "ts": ts,
            "reason": reason,
            "summary": summary,
            **context,
        }
    )


def _age_s(now: datetime, then: datetime) -> float:
    return (now - then).total_seconds()


# --- threshold and rate: a condition with for_s and hysteresis ---------------------------------

Step = Literal["fire", "repeat", "hold", "resolve"] | None


def _step(
    st: SubjectState, ts: datetime, x: float, op: str, bound: float, clear: float | None, for_s: float
) -> tuple[SubjectState, Step]:
    """Advance one condition. Not firing: the condition must hold on every reading for ``for_s``
    (a reading that breaks it resets the wait). Firing: past the bound is a repeat, past the
    clear bound resolves, in between holds."""
    if not st.firing:
        if not holds(op, x, bound):
            return (_with(st, pending_since=None) if st.pending_since else st), None
        since = st.pending_since or ts
        if _age_s(ts, since) >= for_s:
            return _with(st, firing=True, firing_since=ts, pending_since=since), "fire"
        return (st if st.pending_since == since else _with(st, pending_since=since)), None
    if holds(op, x, bound):
        return st, "repeat"
    if is_cleared(op, x, bound, clear):
        return _with(st, firing=False, firing_since=None, pending_since=None), "resolve"
    return st, "hold"


def _condition_transition(
    step: Step,
    rule_id: str,
    rule: ThresholdRule | RateRule,
    subject: str,
    st: SubjectState,
    r: Reading,
    metric: str,
    x: float,
    described: str,
) -> Transition | None:
    if step is None:
        return None
    common = {"metric": metric, "value": x}
    if step == "fire":
        held = f" for {_age_s(r.ts, st.pending_since or r.ts):g} s" if rule.for_s else ""
        since = st.pending_since.isoformat() if st.pending_since else None
        return _transition(
            "fire",
            rule_id,
            rule,
            subject,
            r.ts,
            rule.kind,
            f"{described} on {r.device_id}{held}",
            st,
            details={"condition_since": since},
            **common,
        )
    if step == "resolve":
        return _transition("resolve", rule_id, rule, subject, r.ts, "cleared", f"{described} on {r.device_id}", st)
    return _transition(
        "update",
        rule_id,
        rule,
        subject,
        r.ts,
        "repeat" if step == "repeat" else "value",
        f"{described} on {r.device_id}",
        st,
        repeat=step == "repeat",
        **common,
    )


def _with(st: SubjectState, **changes: Any) -> SubjectState:
    """``dataclasses.replace`` for SubjectState, without its generic machinery (the hot path:
    several times per reading)."""
    get = changes.get
    return SubjectState(
        site=get("site", st.site),
        device_id=get("device_id", st.device_id),
        device_type=get("device_type", st.device_type),
        last_ts=get("last_ts", st.last_ts),
        pending_since=get("pending_since", st.pending_since),
        firing=get("firing", st.firing),
        firing_since=get("firing_since", st.firing_since),
        offline=get("offline", st.offline),
        points=get("points", st.points),
        zone_id=get("zone_id", st.zone_id),
        peak=get("peak", st.peak),
        episode=get("episode", st.episode),
    )


def _fresh(st: SubjectState | None, r: Reading, **changes: Any) -> SubjectState:
    """``st`` (or a new subject) having seen reading ``r``, with ``changes`` applied in the same copy."""
    seen = {"site": r.site, "device_type": r.device_type, "last_ts": r.ts, **changes}
    return SubjectState(device_id=r.device_id, **seen) if st is None else _with(st, **seen)


def _threshold(ch: _Changes, rule_id: str, rule: ThresholdRule, r: Reading) -> Transition | None:
    x = r.values.get(rule.metric)
    if x is None or not math.isfinite(x):
        return None
    st = ch.get(rule_id, r.device_id)
    if st is not None and st.last_ts is not None and r.ts <= st.last_ts:
        return None  # redelivered or out of order: already judged a newer reading
    quiet = st is None or not (st.firing or st.pending_since is not None)
    if quiet and not holds(rule.op, x, rule.value):
        return None  # nothing going on, nothing to remember (a past episode stays as it was)
    new, step = _step(_fresh(st, r), r.ts, x, rule.op, rule.value, rule.clear_value, rule.for_s)
    if step == "resolve" and st is not None:
        # Remembered, so that a breach reading of this episode stored late is known to be part of it.
        new = _with(new, episode=(st.firing_since or r.ts, r.ts))
    keep = new.firing or new.pending_since is not None or new.episode is not None
    ch.put(rule_id, rule, r.device_id, new if keep else None)
    return _condition_transition(
        step, rule_id, rule, r.device_id, new, r, rule.metric, x, f"{rule.metric} {x:g} {rule.op} {rule.value:g}"
    )


def _point_ts(point: tuple[datetime, float]) -> datetime:
    return point[0]


def _thin(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    while len(points) > RATE_MAX_POINTS:
        newest = points[-1]
        points = [*points[:-1][::2], newest]
    return points


def _rate(ch: _Changes, rule_id: str, rule: RateRule, r: Reading) -> Transition | None:
    x = r.values.get(rule.metric)
    if x is None or not math.isfinite(x):
        return None
    st = ch.get(rule_id, r.device_id)
    if st is not None and st.last_ts is not None and r.ts <= st.last_ts:
        return None
    horizon = r.ts - timedelta(seconds=rule.window_s)
    old = st.points if st is not None else ()
    # Points are in time order: those inside the window are a tail, found by bisection.
    points = (*old[bisect_left(old, horizon, key=_point_ts) :], (r.ts, x))
    if len(points) > RATE_MAX_POINTS:
        points = tuple(_thin(list(points)))
    new = _fresh(st, r, points=points)
    t0, v0 = points[0]
    span_s = _age_s(r.ts, t0)
    if span_s <= 0 or span_s < rule.window_s * RATE_MIN_SPAN_FRACTION:
        ch.put(rule_id, rule, r.device_id, new)
        return None
    per_s = (x - v0) / span_s
    new, step = _step(new, r.ts, per_s, rule.op, rule.per_s, rule.clear_per_s, rule.for_s)
    ch.put(rule_id, rule, r.device_id, new)
    described = f"{rule.metric} changing {per_s:+.4g}/s {rule.op} {rule.per_s:g}/s over {span_s:g} s"
    return _condition_transition(step, rule_id, rule, r.device_id, new, r, f"{rule.metric}_per_s", per_s, described)


# --- flag: one bit of a flags metric ------------------------------------------------------------


def _flag(ch: _Changes, rule_id: str, rule: FlagRule, r: Reading) -> Transition | None:
    x = r.values.get(rule.metric)
    if x is None or not math.isfinite(x):
        return None
    st = ch.get(rule_id, r.device_id)
    if st is not None and st.last_ts is not None and r.ts <= st.last_ts:
        return None
    bit = 1.0 if rule.is_set(x) else 0.0
    if st is None and not bit:
        return None
    if st is not None and st.firing and rule.latch and not bit:
        ch.put(rule_id, rule, r.device_id, _fresh(st, r))  # stays open until an officer resolves it
        return None
    new, step = _step(_fresh(st, r), r.ts, bit, ">=", 1.0, None, 0.0)
    ch.put(rule_id, rule, r.device_id, new if new.firing else None)
    if step is None or step == "hold":
        return None
    summary = f"{rule.metric} bit {rule.bit} {'set' if bit else 'clear'} (word {int(x)}) on {r.device_id}"
    if step == "fire":
        details: Details = {"bit": float(rule.bit)}
        return _transition(
            "fire",
            rule_id,
            rule,
            r.device_id,
            r.ts,
            rule.kind,
            summary,
            new,
            details=details,
            metric=rule.metric,
            value=x,
        )
    if step == "resolve":
        return _transition("resolve", rule_id, rule, r.device_id, r.ts, "cleared", summary, new)
    return _transition(
        "update", rule_id, rule, r.device_id, r.ts, "repeat", summary, new, repeat=True, metric=rule.metric, value=x
    )


# --- absence -----------------------------------------------------------------------------------


def _absence_reading(ch: _Changes, rule_id: str, rule: AbsenceRule, r: Reading) -> Transition | None:
    st = ch.get(rule_id, r.device_id)
    if st is None:
        ch.put(rule_id, rule, r.device_id, _fresh(None, r))
        return None
    if st.last_ts is not None and r.ts <= st.last_ts:
        return None  # a redelivered or older reading is not news of the device
    if not st.firing:
        ch.put(rule_id, rule, r.device_id, _fresh(st, r, offline=False))
        return None
    # The silence clock restarts no earlier than the alert fired, so a backlog flushed after an
    # outage resolves once instead of firing again at the next tick.
    seen = max(r.ts, st.firing_since) if st.firing_since else r.ts
    new = _fresh(st, r, firing=False, firing_since=None, offline=False, last_ts=seen)
    ch.put(rule_id, rule, r.device_id, new)
    return _transition("resolve", rule_id, rule, r.device_id, r.ts, "reported", f"{r.device_id} reports again", new)


def _absence_status(ch: _Changes, rule_id: str, rule: AbsenceRule, s: DeviceStatus) -> Transition | None:
    st = ch.get(rule_id, s.device_id)
    device_type = s.device_type or (st.device_type if st is not None else None)
    if not rule.applies_to(s.site, device_type, s.device_id):
        return None
    if st is not None and st.last_ts is not None and s.ts < st.last_ts:
        return None  # a status older than the last reading says nothing about now
    base = SubjectState(site=s.site, device_id=s.device_id, device_type=device_type, last_ts=s.ts) if st is None else st
    if s.state == "online":
        # Connected is not reporting: the clock starts for an unknown device, an alert stays open.
        if st is None or st.offline:
            ch.put(rule_id, rule, s.device_id, _with(base, offline=False))
        return None
    if base.firing:
        if not base.offline:
            ch.put(rule_id, rule, s.device_id, _with(base, offline=True))
        return None
    new = _with(base, firing=True, firing_since=s.ts, offline=True)
    ch.put(rule_id, rule, s.device_id, new)
    summary = f"{s.device_id} went offline (last will)"
    return _transition("fire", rule_id, rule, s.device_id, s.ts, "offline", summary, new)


def _absence_tick(ch: _Changes, rule_id: str, rule: AbsenceRule, now: datetime) -> list[Transition]:
    out: list[Transition] = []
    subjects = ch.all(rule_id)
    if rule.device_id is not None and rule.device_id not in subjects:
        # A rule naming one device starts its clock at the first tick, even if it never reported.
        start = SubjectState(site=rule.site, device_id=rule.device_id, device_type=rule.device_type, last_ts=now)
        ch.put(rule_id, rule, rule.device_id, start)
    for subject, st in sorted(subjects.items()):
        if st.firing or st.last_ts is None:
            continue
        silent_s = _age_s(now, st.last_ts)
        if silent_s > rule.silence_s:
            new = _with(st, firing=True, firing_since=now)
            ch.put(rule_id, rule, subject, new)
            summary = f"{subject} silent for {silent_s:.0f} s (limit {rule.silence_s:g} s)"
            out.append(_transition("fire", rule_id, rule, subject, now, "silence", summary, new, value=silent_s))
    return out


# --- vehicles: dwell and gate failures ----------------------------------------------------------


def _site_ok(rule: DwellRule | GateFailureRule, site: str) -> bool:
    return rule.site is None or rule.site == site


def _vehicle_entered(ch: _Changes, rule_id: str, rule: Rule, e: VehicleEntered) -> Transition | None:
    plate = normalize_plate(e.plate)
    st = ch.get(rule_id, plate)
    if isinstance(rule, GateFailureRule):
        if st is None or not st.firing or not _site_ok(rule, e.site):
            return None
        ch.put(rule_id, rule, plate, None)
        return _transition("resolve", rule_id, rule, plate, e.ts, "vehicle_passed", f"{plate} passed and entered", st)
    if not isinstance(rule, DwellRule) or not _site_ok(rule, e.site):
        return None
    if st is not None and st.last_ts is not None and e.ts <= st.last_ts:
        return None  # the same entry again
    ch.put(rule_id, rule, plate, SubjectState(site=e.site, last_ts=e.ts))
    if st is not None and st.firing:
        # Entering again means it left unseen: the old stay is over, a new one begins.
        return _transition("resolve", rule_id, rule, plate, e.ts, "reentered", f"{plate} entered again", st)
    return None


def _vehicle_left(ch: _Changes, rule_id: str, rule: DwellRule, e: VehicleLeft) -> Transition | None:
    plate = normalize_plate(e.plate)
    st = ch.get(rule_id, plate)
    if st is None or not _site_ok(rule, e.site) or (st.last_ts is not None and e.ts < st.last_ts):
        return None
    ch.put(rule_id, rule, plate, None)
    if not st.firing:
        return None
    return _transition("resolve", rule_id, rule, plate, e.ts, "vehicle_left", f"{plate} left {e.site}", st)


def _dwell_tick(ch: _Changes, rule_id: str, rule: DwellRule, now: datetime) -> list[Transition]:
    out: list[Transition] = []
    for plate, st in sorted(ch.all(rule_id).items()):
        if st.firing or st.last_ts is None:
            continue
        inside_s = _age_s(now, st.last_ts)
        if inside_s > rule.max_s:
            new = _with(st, firing=True, firing_since=now)
            ch.put(rule_id, rule, plate, new)
            hours = inside_s / 3600.0
            summary = f"{plate} inside {st.site} for {hours:.1f} h (limit {rule.max_hours:g} h)"
            details: Details = {"entered_at": st.last_ts.isoformat()}
            t = _transition("fire", rule_id, rule, plate, now, "dwell", summary, new, value=hours, details=details)
            out.append(t)
    return out


def _inspection_failed(ch: _Changes, rule_id: str, rule: GateFailureRule, e: InspectionFailed) -> Transition | None:
    if not _site_ok(rule, e.site) or (rule.gate_id is not None and rule.gate_id != e.gate_id):
        return None
    failed = sorted(set(e.failed_checks))
    if rule.check_codes is not None and not set(failed) & set(rule.check_codes):
        return None
    plate = normalize_plate(e.plate)
    st = ch.get(rule_id, plate)
    if st is not None and st.last_ts is not None and e.ts <= st.last_ts:
        return None
    details: Details = {
        "inspection_id": e.inspection_id,
        "gate_id": e.gate_id,
        "failed_checks": failed,
        "reasons": sorted(set(e.reasons)),
    }
    summary = f"{plate} failed inspection at gate {e.gate_id}: {', '.join(failed) or 'no check named'}"
    if st is not None and st.firing:
        new = _with(st, last_ts=e.ts)
        ch.put(rule_id, rule, plate, new)
        return _transition("update", rule_id, rule, plate, e.ts, "repeat", summary, new, repeat=True, details=details)
    new = SubjectState(site=e.site, last_ts=e.ts, firing=True, firing_since=e.ts)
    ch.put(rule_id, rule, plate, new)
    return _transition("fire", rule_id, rule, plate, e.ts, "gate_failure", summary, new, details=details)


# --- positions: zone, speeding, stop, off_route (alerts/positions.py) -------------------------------


class _Where:
    """A reading's place on its site's layout, located at most once per event for all position rules."""

    def __init__(self, context: EngineContext, event: Event) -> None:
        self.context = context
        self.event = event
        self._done = False
        self._fix: positions.Fix | None = None

    def fix(self) -> positions.Fix | None:
        if not self._done and isinstance(self.event, Reading):
            self._fix = positions.locate(self.context, self.event)
            self._done = True
        return self._fix


def _on_position(ch: _Changes, rule_id: str, rule: PositionRule, event: Event, where: _Where) -> list[Transition]:
    if not isinstance(event, Reading) or not rule.applies_to(event.site, event.device_type, event.device_id):
        return []
    st = ch.get(rule_id, event.device_id)
    if st is not None and st.last_ts is not None and event.ts <= st.last_ts:
        return []  # redelivered or out of order: already judged a newer reading
    fix = where.fix()
    if fix is None:
        return []
    new, outcome = positions.step(rule, st, event, fix)
    if new is not st:
        ch.put(rule_id, rule, event.device_id, new)
    if outcome is None:
        return []
    t = _transition(
        outcome.kind,
        rule_id,
        rule,
        event.device_id,
        event.ts,
        outcome.reason,
        outcome.summary,
        new or st,
        metric=outcome.metric,
        value=outcome.value,
        repeat=outcome.repeat,
        details=positions.details(outcome, fix),
    )
    return [t]


# --- the entry points ----------------------------------------------------------------------------


def _retire(ch: _Changes, rule_id: str, old: RuleState, ts: datetime, reason: str) -> list[Transition]:
    """Resolve the open alerts of a rule that is gone (or whose id now names another kind)."""
    out = [
        _transition("resolve", rule_id, old, subject, ts, reason, f"rule {old.name!r}: {reason.replace('_', ' ')}", st)
        for subject, st in sorted(old.subjects.items())
        if st.firing
    ]
    ch.drop(rule_id)
    return out


def _event_ts(event: Event) -> datetime:
    return event.now if isinstance(event, Tick) else event.ts


def _on_reading(ch: _Changes, rule_id: str, rule: Rule, r: Reading) -> Transition | None:
    if isinstance(rule, DwellRule | GateFailureRule | ZoneRule | SpeedingRule | StopRule | OffRouteRule):
        return None
    if not rule.applies_to(r.site, r.device_type, r.device_id):
        return None
    if isinstance(rule, ThresholdRule):
        return _threshold(ch, rule_id, rule, r)
    if isinstance(rule, RateRule):
        return _rate(ch, rule_id, rule, r)
    if isinstance(rule, FlagRule):
        return _flag(ch, rule_id, rule, r)
    return _absence_reading(ch, rule_id, rule, r)


def _on_event(ch: _Changes, rule_id: str, rule: Rule, event: Event) -> list[Transition]:
    if isinstance(event, Tick):
        if isinstance(rule, AbsenceRule):
            return _absence_tick(ch, rule_id, rule, event.now)
        if isinstance(rule, DwellRule):
            return _dwell_tick(ch, rule_id, rule, event.now)
        return []
    t: Transition | None = None
    if isinstance(event, Reading):
        t = _on_reading(ch, rule_id, rule, event)
    elif isinstance(event, DeviceStatus) and isinstance(rule, AbsenceRule):
        t = _absence_status(ch, rule_id, rule, event)
    elif isinstance(event, VehicleEntered):
        t = _vehicle_entered(ch, rule_id, rule, event)
    elif isinstance(event, VehicleLeft) and isinstance(rule, DwellRule):
        t = _vehicle_left(ch, rule_id, rule, event)
    elif isinstance(event, InspectionFailed) and isinstance(rule, GateFailureRule):
        t = _inspection_failed(ch, rule_id, rule, event)
    return [] if t is None else [t]


def evaluate(
    rules: Mapping[str, Rule], state: EngineState, event: Event, context: EngineContext = EMPTY_CONTEXT
) -> tuple[EngineState, list[Transition]]:
    """Apply one event to every rule; return the new state and the transitions it caused.

    ``rules`` maps rule id to rule. ``state`` is not modified; when nothing changed the same
    object is returned. A Tick also retires the state of rules no longer in ``rules``, resolving
    their open alerts with reason ``rule_removed``. ``context``: the layouts and plates that
    position rules read (without a layout for its site, a reading meets no position rule).
    """
    ch = _Changes(state)
    out: list[Transition] = []
    ts = _event_ts(event)
    where = _Where(context, event)
    for rule_id in sorted(rules):
        rule = rules[rule_id]
        old = state.rules.get(rule_id)
        if old is not None and old.kind != rule.kind:
            out.extend(_retire(ch, rule_id, old, ts, "rule_changed"))
        if isinstance(rule, ZoneRule | SpeedingRule | StopRule | OffRouteRule):
            out.extend(_on_position(ch, rule_id, rule, event, where))
        else:
            out.extend(_on_event(ch, rule_id, rule, event))
    if isinstance(event, Tick):
        for rule_id in sorted(set(state.rules) - set(rules)):
            out.extend(_retire(ch, rule_id, state.rules[rule_id], ts, "rule_removed"))
    return ch.build(), out


# A late breach reading this close to an alert's episode of the same rule and device belongs to it.
LATE_EPISODE_MERGE: Final = timedelta(seconds=60)


def evaluate_late(
    rules: Mapping[str, Rule], state: EngineState, reading: Reading
) -> tuple[EngineState, list[Transition]]:
    """A reading stamped before its device's newest evaluated one, stored after it (several
    gateways store in parallel; a backlog a device held through a broker outage arrives at once
    and is split between them). Rules move on with the newest readings only, but a breach a late
    reading carries happened and is not dropped. For each threshold rule without ``for_s`` whose
    bound it crosses: inside the device's open alert of that rule, or within
    ``LATE_EPISODE_MERGE`` of its last alert's episode, it is part of that alert; otherwise an
    alert that fired at the reading's time and was over by the time it was stored (``fire``, then
    ``resolve`` with reason ``late_reading``), whose episode takes in the next late readings of
    the same breach. Rules over time (``for_s``, rates, absence) cannot be judged out of order."""
    ch = _Changes(state)
    out: list[Transition] = []
    ts = reading.ts
    for rule_id in sorted(rules):
        rule = rules[rule_id]
        if not isinstance(rule, ThresholdRule) or rule.for_s > 0:
            continue
        if not rule.applies_to(reading.site, reading.device_type, reading.device_id):
            continue
        x = reading.values.get(rule.metric)
        if x is None or not math.isfinite(x) or not holds(rule.op, x, rule.value):
            continue
        st = ch.get(rule_id, reading.device_id)
        if st is not None and st.firing:
            continue
        if st is not None and st.episode is not None:
            start, end = st.episode
            if start - LATE_EPISODE_MERGE <= ts <= end + LATE_EPISODE_MERGE:
                ch.put(rule_id, rule, reading.device_id, _with(st, episode=(min(start, ts), max(end, ts))))
                continue
        base = st or SubjectState(device_id=reading.device_id, site=reading.site, device_type=reading.device_type)
        ch.put(rule_id, rule, reading.device_id, _with(base, episode=(ts, ts)))
        described = f"{rule.metric} {x:g} {rule.op} {rule.value:g} on {reading.device_id}"
        common: dict[str, object] = {"metric": rule.metric, "value": x}
        out.append(
            _transition(
                "fire",
                rule_id,
                rule,
                reading.device_id,
                ts,
                "late_reading",
                f"{described} (a reading stored after newer ones)",
                base,
                details={"late": True},
                **common,
            )
        )
        out.append(
            _transition(
                "resolve",
                rule_id,
                rule,
                reading.device_id,
                ts,
                "late_reading",
                f"{described}: newer readings were judged before it; the condition was over",
                base,
            )
        )
    return ch.build(), out


def evaluate_all(
    rules: Mapping[str, Rule], state: EngineState, events: list[Event], context: EngineContext = EMPTY_CONTEXT
) -> tuple[EngineState, list[Transition]]:
    """:func:`evaluate` folded over ``events`` in order (the stored stream, replays, tests).

    The same result as calling :func:`evaluate` event by event, in one pass: the changes are
    collected once and the new state is built once at the end, not once per event.
    """
    if not events:
        return state, []
    ch = _Changes(state)
    out: list[Transition] = []
    order = sorted(rules)
    # A rule id reused for another kind retires its old state at the first event, as evaluate does.
    changed_kind = {rid for rid in order if (old := state.rules.get(rid)) is not None and old.kind != rules[rid].kind}
    removed = sorted(set(state.rules) - set(rules))
    for event in events:
        ts = _event_ts(event)
        where = _Where(context, event)
        for rule_id in order:
            rule = rules[rule_id]
            if rule_id in changed_kind:
                changed_kind.discard(rule_id)
                out.extend(_retire(ch, rule_id, state.rules[rule_id], ts, "rule_changed"))
            if isinstance(rule, ZoneRule | SpeedingRule | StopRule | OffRouteRule):
                out.extend(_on_position(ch, rule_id, rule, event, where))
            else:
                out.extend(_on_event(ch, rule_id, rule, event))
        if removed and isinstance(event, Tick):
            for rule_id in removed:
                out.extend(_retire(ch, rule_id, state.rules[rule_id], ts, "rule_removed"))
            removed = []
    return ch.build(), out


def release(state: EngineState, rule_id: str, subject: str) -> EngineState:
    """Forget a (rule, subject) pair, for when an officer resolves its alert by hand.

    A threshold or rate condition still true then opens a new alert (after ``for_s`` again); an
    absent device or a dwelling vehicle is forgotten until it is heard from or enters again.
    """
    rs = state.rules.get(rule_id)
    if rs is None or subject not in rs.subjects:
        return state
    subjects = {k: v for k, v in rs.subjects.items() if k != subject}
    rules = dict(state.rules)
    if subjects:
        rules[rule_id] = rs.model_copy(update={"subjects": subjects})
    else:
        del rules[rule_id]
    return state.model_copy(update={"rules": rules})
