"""Partitions of alert evaluation, as pure decisions: which subject goes where, who owns what,
what an input looks like stored, and that evaluating a window at once equals one event at a time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine import evaluate, evaluate_all
from alerts.errors import InputFormatError
from alerts.events import DeviceStatus, Event, InspectionFailed, Reading, Tick, VehicleEntered, VehicleLeft
from alerts.inputs import body_of, decode, key_of, kind_of
from alerts.models import parse_rule
from alerts.partitions import partition_of, plan_ownership, rules_by_partition, target_share
from alerts.state import EngineState

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def test_a_subject_always_lands_in_the_same_partition_in_every_process():
    assert partition_of("TS-01", 32) == 9  # fixed forever: saved states are keyed by it
    assert partition_of("浙B12345", 32) == 3
    spread = {partition_of(f"dev-{i}", 32) for i in range(500)}
    assert spread == set(range(32))


def test_the_database_puts_every_subject_where_this_build_does(db):
    keys = [f"tank-{i}" for i in range(100)] + ["浙B12345", "沪A-0001", "GPS.7_x"]
    rows = db.execute("SELECT k, alert_partition(k), alert_partition_count() FROM unnest(%s::text[]) k", (keys,))
    for key, part, count in rows.fetchall():
        assert part == partition_of(key, count), key


def test_a_rule_naming_one_device_is_evaluated_in_that_devices_partition_only():
    pinned = parse_rule({"name": "one", "kind": "absence", "silence_s": 60, "severity": "info", "device_id": "TS-01"})
    broad = parse_rule({"name": "all", "kind": "absence", "silence_s": 60, "severity": "info", "site": "north"})
    per_part = rules_by_partition({"p": pinned, "b": broad}, 32)
    assert [sorted(rules) for rules in per_part].count(["b", "p"]) == 1
    assert sorted(per_part[partition_of("TS-01", 32)]) == ["b", "p"]
    assert all("b" in rules for rules in per_part)


def test_a_process_joining_a_lone_owner_gets_half_and_nothing_moves_after():
    # A owns everything; B joins (owns nothing yet, so it is below its share).
    take, release = plan_ownership(
        32, mine=1, owned=set(range(32)), holders=dict.fromkeys(range(32), 1), members={1: 32, 2: 0}, overdue=set()
    )
    assert take == [] and len(release) == 16
    freed = set(release)
    holders = {p: 1 for p in range(32) if p not in freed}
    take, release = plan_ownership(32, mine=2, owned=set(), holders=holders, members={1: 16, 2: 0}, overdue=set())
    assert set(take) == freed and release == []
    # Balanced: nobody below its share, nobody moves anything.
    holders.update(dict.fromkeys(freed, 2))
    for mine, owned in ((1, set(range(32)) - freed), (2, freed)):
        assert plan_ownership(32, mine, owned, holders, {1: 16, 2: 16}, set()) == ([], [])


def test_the_partitions_of_a_dead_process_are_shared_by_the_survivors():
    # Three processes, 11/11/10; the third dies: its 10 are free, the two left aim for 16 each.
    holders = {p: (1 if p < 11 else 2) for p in range(22)}
    take, release = plan_ownership(32, 1, set(range(11)), holders, {1: 11, 2: 11}, set())
    assert len(take) == 5 and release == [] and not set(take) & set(holders)
    assert target_share(32, 3) == 11 and target_share(32, 2) == 16 and target_share(32, 0) == 32


def test_a_partition_free_for_too_long_is_taken_whatever_the_share():
    holders = {p: 1 for p in range(31)}
    take, _ = plan_ownership(32, 1, set(range(31)), holders, {1: 31, 2: 0}, overdue={31})
    assert take == [31]


@pytest.mark.parametrize(
    "event",
    [
        DeviceStatus("GAS-1", "north", "offline", T0, "gas_detector"),
        InspectionFailed("insp-1", " 浙b12345", "north", "G1", T0, ("permitted_media",), ("un_not_permitted",)),
        VehicleEntered("浙B12345", "north", T0, "G1", "insp-2"),
        VehicleLeft("浙B12345", "north", T0, "G2"),
    ],
)
def test_an_engine_input_is_stored_and_read_back_as_the_same_typed_event(event):
    stored = decode(kind_of(event), event.ts, body_of(event))
    assert stored == event
    assert key_of(event) in ("GAS-1", "浙B12345")  # the subject the engine keys it by


def test_an_input_of_an_unknown_kind_or_shape_is_refused_with_its_reason():
    with pytest.raises(InputFormatError, match=r"jt808_alarm.*unknown"):
        decode("jt808_alarm", T0, {})
    with pytest.raises(InputFormatError, match="state"):
        decode("device_status", T0, {"device_id": "x", "site": "s", "state": "exploded"})


def test_evaluating_a_window_at_once_equals_evaluating_it_one_event_at_a_time():
    rules = {
        "hi": parse_rule(
            {
                "name": "hi",
                "kind": "threshold",
                "metric": "tank_pressure_kpa",
                "op": ">",
                "value": 1600,
                "clear_value": 1500,
                "for_s": 2,
                "severity": "critical",
            }
        ),
        "rate": parse_rule(
            {
                "name": "rate",
                "kind": "rate",
                "metric": "tank_pressure_kpa",
                "op": ">",
                "per_s": 20,
                "window_s": 10,
                "severity": "warning",
            }
        ),
        "quiet": parse_rule({"name": "quiet", "kind": "absence", "silence_s": 5, "severity": "warning"}),
        "stay": parse_rule({"name": "stay", "kind": "dwell", "max_hours": 0.001, "severity": "info"}),
    }
    rng = random.Random(7)
    events: list[Event] = []
    for i in range(600):
        ts = T0 + timedelta(seconds=i * 0.5)
        roll = rng.random()
        if roll < 0.8:
            kpa = rng.choice([800.0, 1550.0, 1650.0, 1700.0])
            events.append(Reading(f"TS-{rng.randrange(5)}", "north", "tank_sensor", ts, {"tank_pressure_kpa": kpa}))
        elif roll < 0.9:
            events.append(Tick(ts))
        elif roll < 0.95:
            events.append(VehicleEntered(f"浙B{rng.randrange(3)}", "north", ts))
        else:
            events.append(DeviceStatus(f"TS-{rng.randrange(5)}", "north", "offline", ts))
    end = T0 + timedelta(seconds=300)
    for k in range(3):  # TS-0 ends firing, so replacing its rule resolves something
        events.append(
            Reading("TS-0", "north", "tank_sensor", end + timedelta(seconds=2 * k), {"tank_pressure_kpa": 1700.0})
        )
    one_by_one, expected = EngineState.empty(), []
    for event in events:
        one_by_one, produced = evaluate(rules, one_by_one, event)
        expected.extend(produced)
    # Rules change in the middle: one removed, one id reused for another kind.
    later = {**rules, "hi": rules["rate"]}
    del later["stay"]
    more: list[Event] = [
        Reading("TS-1", "north", "tank_sensor", end + timedelta(seconds=9), {"tank_pressure_kpa": 900.0}),
        Tick(T0 + timedelta(hours=1)),
    ]
    for event in more:
        one_by_one, produced = evaluate(later, one_by_one, event)
        expected.extend(produced)

    at_once, got = evaluate_all(rules, EngineState.empty(), events)
    at_once, got_later = evaluate_all(later, at_once, more)
    assert at_once == one_by_one and [*got, *got_later] == expected
    assert any(t.reason == "rule_removed" for t in got_later) and any(t.reason == "rule_changed" for t in got_later)
    assert evaluate_all(rules, at_once, []) == (at_once, [])
