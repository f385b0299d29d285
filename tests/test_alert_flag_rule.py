"""The `flag` rule kind, pure: one bit of a flags metric (the JT/T 808 alarm word) opens an alert
while set and resolves when clear, or stays open for an officer with ``latch``. No services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.engine import Transition, evaluate_all, release
from alerts.events import Event, Reading
from alerts.models import FlagRule, Rule, parse_rule
from alerts.state import EngineState

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SOS = 1 << 0
OVERSPEED = 1 << 1


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alarms(word: int, s: float, device: str = "GPS-7", site: str = "north") -> Reading:
    return Reading(device, site, "gps_tracker", at(s), {"lat": 29.9, "lon": 121.6, "alarm_flags": float(word)})


def make_flag(**overrides: Any) -> FlagRule:
    body: dict[str, Any] = {"name": "SOS pressed", "kind": "flag", "metric": "alarm_flags", "bit": 0}
    body.update({"severity": "critical", **overrides})
    rule = parse_rule(body)
    assert isinstance(rule, FlagRule)
    return rule


def run(rules: dict[str, Rule], events: list[Event], state: EngineState | None = None):
    return evaluate_all(rules, state or EngineState.empty(), events)


def kinds(transitions: list[Transition]) -> list[str]:
    return [t.kind for t in transitions]


def test_contract_style_flag_rule_body_is_accepted_as_written():
    rule = make_flag()
    assert (rule.metric, rule.bit, rule.severity.value, rule.latch) == ("alarm_flags", 0, "critical", False)


def test_flag_rule_refuses_a_metric_that_is_not_a_word_of_flags_and_a_bit_past_31():
    with pytest.raises(ValidationError, match="not a word of flags"):
        make_flag(metric="speed_kmh")
    with pytest.raises(ValidationError):
        make_flag(bit=32)
    with pytest.raises(ValidationError, match="does not publish"):
        make_flag(device_type="tank_sensor")


def test_sos_bit_set_fires_a_critical_alert_and_clearing_it_resolves():
    rules: dict[str, Rule] = {"r1": make_flag()}
    _, out = run(rules, [alarms(0, 0), alarms(SOS, 1), alarms(SOS | OVERSPEED, 2), alarms(OVERSPEED, 3)])
    assert kinds(out) == ["fire", "update", "resolve"]
    fire = out[0]
    assert (fire.severity.value, fire.metric, fire.value, fire.device_id) == ("critical", "alarm_flags", 1.0, "GPS-7")
    assert fire.summary == "alarm_flags bit 0 set (word 1) on GPS-7"
    assert out[1].repeat and out[2].reason == "cleared"


def test_other_bits_alone_never_fire_the_sos_rule():
    _, out = run({"r1": make_flag()}, [alarms(OVERSPEED, 0), alarms(1 << 31, 1), alarms(0xFFFFFFFE, 2)])
    assert out == []


def test_the_top_bit_of_the_word_is_watched_too():
    _, out = run({"r1": make_flag(bit=31, severity="warning")}, [alarms(1 << 31, 0), alarms(0, 1)])
    assert kinds(out) == ["fire", "resolve"]


def test_a_latched_flag_rule_stays_firing_after_the_terminal_clears_the_bit():
    rules: dict[str, Rule] = {"r1": make_flag(latch=True)}
    state, out = run(rules, [alarms(SOS, 0), alarms(0, 1), alarms(0, 2)])
    assert kinds(out) == ["fire"]
    # The officer resolves it (the service releases the subject); a new press fires again.
    state = release(state, "r1", "GPS-7")
    _, out = run(rules, [alarms(SOS, 3)], state)
    assert kinds(out) == ["fire"]


def test_a_redelivered_or_older_reading_is_not_judged_again():
    rules: dict[str, Rule] = {"r1": make_flag()}
    state, out = run(rules, [alarms(SOS, 5)])
    _, again = run(rules, [alarms(0, 4), alarms(SOS, 5)], state)
    assert kinds(out) == ["fire"] and again == []


def test_readings_without_the_metric_are_ignored_and_rules_scope_by_device():
    rules: dict[str, Rule] = {"r1": make_flag(device_id="GPS-1")}
    no_word = Reading("GPS-1", "north", "gps_tracker", at(0), {"lat": 29.9})
    _, out = run(rules, [no_word, alarms(SOS, 1, device="GPS-2"), alarms(SOS, 2, device="GPS-1")])
    assert [(t.kind, t.device_id) for t in out] == [("fire", "GPS-1")]
