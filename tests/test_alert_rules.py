"""The pure alerting core: rules, evaluation, lifecycle, notifications and payloads.

No services: every test builds events by hand and reads the transitions and notifications.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.engine import RATE_MAX_POINTS, Transition, evaluate, evaluate_all, evaluate_late, release
from alerts.errors import AlertStateError, StateFormatError, UnsafeUrlError
from alerts.events import DeviceStatus, Event, InspectionFailed, Reading, Tick, VehicleEntered, VehicleLeft
from alerts.lifecycle import (
    Alert,
    EscalationPolicy,
    Silence,
    SilenceMatchers,
    Tier,
    acknowledge,
    delivery_id,
    due_notifications,
    fold,
    open_alert,
    recipients,
    resolve,
)
from alerts.models import (
    AbsenceRule,
    DwellRule,
    GateFailureRule,
    RateRule,
    Rule,
    Severity,
    ThresholdRule,
    parse_rule,
    parse_subscription,
)
from alerts.payload import Backoff, alert_body, encode_body, next_attempt_delay_s, sign, verify_signature
from alerts.state import EngineState, fingerprint
from alerts.urlcheck import UrlPolicy, check_address

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def pressure(kpa: float, s: float, device: str = "TS-01", site: str = "north") -> Reading:
    return Reading(device, site, "tank_sensor", at(s), {"tank_pressure_kpa": kpa})


def gps(s: float, device: str = "GPS-7", site: str = "north") -> Reading:
    return Reading(device, site, "gps_tracker", at(s), {"lat": 29.9, "lon": 121.6, "speed_kmh": 12.0})


def make_threshold(**overrides: Any) -> ThresholdRule:
    body: dict[str, Any] = {
        "name": "tank overpressure",
        "kind": "threshold",
        "metric": "tank_pressure_kpa",
        "op": ">",
        "value": 80,
        "for_s": 0,
        "severity": "critical",
    }
    body.update(overrides)
    rule = parse_rule(body)
    assert isinstance(rule, ThresholdRule)
    return rule


def run(
    rules: dict[str, Rule], events: list[Event], state: EngineState | None = None
) -> tuple[EngineState, list[Transition]]:
    return evaluate_all(rules, state or EngineState.empty(), events)


def kinds(transitions: list[Transition]) -> list[str]:
    return [t.kind for t in transitions]


# --- rule and subscription validation -------------------------------------------------------------


def test_contract_threshold_rule_body_is_accepted_as_written() -> None:
    rule = parse_rule(
        {
            "name": "LPG tank pressure high",
            "kind": "threshold",
            "metric": "tank_pressure_kpa",
            "op": ">=",
            "value": 1600,
            "for_s": 30,
            "clear_value": 1500,
            "severity": "warning",
            "site": "north",
            "device_type": "tank_sensor",
            "device_id": "TS-01",
        }
    )
    assert isinstance(rule, ThresholdRule)
    assert (rule.op, rule.value, rule.clear_value, rule.severity) == (">=", 1600, 1500, Severity.WARNING)


def test_bad_rule_metric_is_refused_with_known_metrics_listed() -> None:
    with pytest.raises(ValidationError) as err:
        make_threshold(metric="tank_pressure_psi")
    message = str(err.value)
    assert "unknown metric 'tank_pressure_psi'" in message
    for known in ("tank_pressure_kpa", "gas_lel_pct", "speed_kmh"):
        assert known in message


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"op": "=>"}, "Input should be '>', '>=', '<' or '<='"),
        ({"for_s": -5}, "greater than or equal to 0"),
        ({"severity": "fatal"}, "'info', 'warning' or 'critical'"),
        ({"clear_value": 85}, "clear_value 85 is above value 80"),
        ({"op": "<", "value": 10, "clear_value": 5}, "clear_value 5 is below value 10"),
        ({"value": 20_000}, "outside the valid range of tank_pressure_kpa"),
        ({"device_type": "gps_tracker"}, "does not publish 'tank_pressure_kpa'"),
        ({"for": 30}, "Extra inputs are not permitted"),
        ({"site": "north site"}, "String should match pattern"),
    ],
)
def test_bad_threshold_rules_are_refused_saying_why(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        make_threshold(**overrides)
    assert fragment in str(err.value)


def test_rule_kinds_other_than_threshold_are_validated_too() -> None:
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        parse_rule({"name": "x", "kind": "threshhold", "severity": "info"})
    with pytest.raises(ValidationError, match="publishes no telemetry"):
        parse_rule({"name": "x", "kind": "absence", "silence_s": 60, "device_type": "kiosk", "severity": "info"})
    with pytest.raises(ValidationError, match="greater than 0"):
        parse_rule({"name": "x", "kind": "absence", "silence_s": 0, "severity": "info"})
    with pytest.raises(ValidationError, match="greater than 0"):
        parse_rule(
            {"name": "x", "kind": "rate", "metric": "gas_ppm", "op": ">", "per_s": 1, "window_s": 0, "severity": "info"}
        )
    with pytest.raises(ValidationError, match="clear_per_s 9 is above per_s 5"):
        parse_rule(
            {
                "name": "x",
                "kind": "rate",
                "metric": "gas_ppm",
                "op": ">",
                "per_s": 5,
                "clear_per_s": 9,
                "window_s": 10,
                "severity": "info",
            }
        )
    with pytest.raises(ValidationError, match="unknown check codes"):
        parse_rule({"name": "x", "kind": "gate_failure", "check_codes": ["face_mismatch"], "severity": "info"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        parse_rule({"name": "x", "kind": "dwell", "max_hours": 4, "device_id": "TS-01", "severity": "info"})


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata service address"),
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata service name"),
        ("http://METADATA.GOOGLE.INTERNAL./", "cloud metadata service name"),
        ("http://[fd00:ec2::254]/latest", "cloud metadata service address"),
        ("http://100.100.100.200/latest/meta-data", "cloud metadata service address"),
        ("http://2852039166/latest", "cloud metadata service address"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "cloud metadata service address"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata service address"),
        ("http://169.254.10.1/hook", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://[ff02::1]/hook", "multicast"),
        ("http://0.0.0.0:8080/hook", "unspecified"),
        ("http://[::]/hook", "unspecified"),
        ("ftp://receiver.example.com/hook", "must use http or https"),
        ("file:///etc/passwd", "must use http or https"),
        ("https://user:pw@receiver.example.com/hook", "carries credentials"),
        ("https:///hook", "has no host"),
    ],
)
def test_webhook_to_metadata_address_is_refused(url: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_subscription({"channel": "webhook", "url": url, "secret": "s3cret"})
    assert fragment in str(err.value)


def test_webhook_to_loopback_is_allowed_by_default_and_refused_when_configured() -> None:
    body = {"channel": "webhook", "url": "http://127.0.0.1:8765/hook", "secret": "s3cret", "min_severity": "warning"}
    sub = parse_subscription(body)
    assert sub.channel == "webhook"
    assert parse_subscription({**body, "url": "http://localhost:8765/hook"}).channel == "webhook"
    strict = UrlPolicy(allow_loopback=False, allow_private=False)
    with pytest.raises(ValidationError, match="loopback address and allow_loopback is off"):
        parse_subscription(body, url_policy=strict)
    with pytest.raises(ValidationError, match="private address and allow_private is off"):
        parse_subscription({**body, "url": "https://10.20.0.5/scada"}, url_policy=strict)
    assert parse_subscription({**body, "url": "https://10.20.0.5/scada"}).channel == "webhook"
    assert parse_subscription({**body, "url": "https://duty.example.com/hook"}, url_policy=strict).channel == "webhook"


def test_sender_checks_resolved_addresses_against_the_same_policy() -> None:
    check_address("93.184.216.34")
    check_address("127.0.0.1")
    with pytest.raises(UnsafeUrlError, match="metadata"):
        check_address("169.254.169.254")
    with pytest.raises(UnsafeUrlError, match="loopback"):
        check_address("::1", UrlPolicy(allow_loopback=False))


def test_webhook_secret_is_hidden_in_dumps_but_readable_for_signing() -> None:
    sub = parse_subscription({"channel": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s3cret"})
    assert sub.channel == "webhook"
    assert "s3cret" not in sub.model_dump_json()
    assert sub.secret.get_secret_value() == "s3cret"


def test_other_channels_check_their_own_fields() -> None:
    assert parse_subscription({"channel": "mqtt", "topic": "hazgate/v1/north/alerts"}).channel == "mqtt"
    with pytest.raises(ValidationError, match="wildcards"):
        parse_subscription({"channel": "mqtt", "topic": "alerts/#"})
    for reserved in (
        "hazgate/v1/north/devices/TS-01/telemetry",
        "hazgate/v1/north/gates/g1/barrier",
        "hazgate/v1/_service/gateways/x",
    ):
        with pytest.raises(ValidationError, match="under device, gate or service topics"):
            parse_subscription({"channel": "mqtt", "topic": reserved})
    assert parse_subscription({"channel": "email", "to": "duty@park.example.cn"}).channel == "email"
    with pytest.raises(ValidationError, match="not an e-mail address"):
        parse_subscription({"channel": "email", "to": "duty-officer"})
    assert parse_subscription({"channel": "stream", "label": "control room"}).channel == "stream"


# --- threshold ---------------------------------------------------------------------------------


def test_pressure_above_limit_fires_at_once_when_for_s_is_zero() -> None:
    _, out = run({"r1": make_threshold()}, [pressure(79, 0), pressure(81, 1)])
    assert kinds(out) == ["fire"]
    fire = out[0]
    assert (fire.rule_id, fire.subject, fire.device_id, fire.site) == ("r1", "TS-01", "TS-01", "north")
    assert (fire.metric, fire.value, fire.severity, fire.ts) == ("tank_pressure_kpa", 81, Severity.CRITICAL, at(1))
    assert fire.fingerprint == fingerprint("r1", "TS-01")


def test_pressure_must_stay_high_for_for_s_before_firing() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold(for_s=30)}
    state, out = run(rules, [pressure(85, 0), pressure(86, 10), pressure(87, 29)])
    assert out == []
    assert state.subject("r1", "TS-01") is not None
    _, out = run(rules, [pressure(88, 30)], state)
    assert kinds(out) == ["fire"]
    assert out[0].details["condition_since"] == at(0).isoformat()


def test_a_dip_below_the_limit_before_for_s_restarts_the_wait() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold(for_s=30)}
    state, out = run(rules, [pressure(85, 0), pressure(86, 20), pressure(79, 25), pressure(85, 26), pressure(90, 50)])
    assert out == []
    _, out = run(rules, [pressure(90, 56)], state)
    assert kinds(out) == ["fire"]


def test_tank_pressure_dancing_around_the_limit_does_not_flap() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold(value=80, clear_value=75)}
    values = [81, 79, 80.5, 76, 82, 75.1, 79.9, 81]
    state, out = run(rules, [pressure(v, i) for i, v in enumerate(values)])
    assert kinds(out) == ["fire"] + ["update"] * 7  # one alert all along, never resolved
    assert [t.repeat for t in out[1:]] == [False, True, False, True, False, False, True]
    _, out = run(rules, [pressure(75, 100)], state)
    assert kinds(out) == ["resolve"]
    assert out[0].reason == "cleared"


def test_without_clear_value_the_alert_resolves_when_the_condition_stops_holding() -> None:
    _, out = run({"r1": make_threshold(op=">=", value=80)}, [pressure(80, 0), pressure(80, 1), pressure(79.99, 2)])
    assert kinds(out) == ["fire", "update", "resolve"]


def test_low_tank_level_resolves_only_above_its_clear_value() -> None:
    rule = make_threshold(name="level low", metric="tank_level_pct", op="<", value=10, clear_value=15)
    readings = [
        Reading("TS-01", "north", "tank_sensor", at(i), {"tank_level_pct": v}) for i, v in enumerate([9, 12, 14.9, 15])
    ]
    _, out = run({"low": rule}, list(readings))
    assert kinds(out) == ["fire", "update", "update", "resolve"]


def test_redelivered_or_late_reading_is_not_judged_twice() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold()}
    _, out = run(rules, [pressure(90, 5), pressure(90, 5), pressure(70, 3), pressure(91, 6)])
    assert kinds(out) == ["fire", "update"]


def late(rules: dict[str, Rule], state: EngineState, readings: list[Reading]) -> tuple[EngineState, list[Transition]]:
    """Readings stored after newer ones of their device, judged one by one as the evaluator does."""
    out: list[Transition] = []
    for r in readings:
        state, more = evaluate_late(rules, state, r)
        out.extend(more)
    return state, out


def test_a_breach_stored_after_the_all_clear_is_alerted_once_and_already_over() -> None:
    # An outage's backlog split between gateways: the normal reading of 0:10 was stored (and
    # judged) before the device's high readings of 0:04-0:09.
    rules: dict[str, Rule] = {"r1": make_threshold(value=80)}
    state, out = run(rules, [pressure(60, 3), pressure(60, 10)])
    assert out == []
    state, out = late(rules, state, [pressure(90, s) for s in range(4, 10)])
    assert kinds(out) == ["fire", "resolve"], "one alert for the breach, not one per reading"
    assert out[0].ts == at(4) and out[0].reason == "late_reading" and out[0].value == 90
    assert out[1].reason == "late_reading"
    # A later breach is a new alert, as usual.
    _, out = run(rules, [pressure(95, 20)], state)
    assert kinds(out) == ["fire"]


def test_a_late_reading_of_an_alert_already_raised_is_part_of_it() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold(value=80)}
    # The alert fired and resolved on the readings that came in time ...
    state, out = run(rules, [pressure(90, 5), pressure(91, 6), pressure(60, 8)])
    assert kinds(out) == ["fire", "update", "resolve"]
    # ... so its readings of 0:04 and 0:07, stored late, raise nothing more.
    _, out = late(rules, state, [pressure(92, 4), pressure(93, 7)])
    assert out == []
    # While an alert is open, a late high reading is part of it too.
    state, _ = run(rules, [pressure(90, 30)], state)
    _, out = late(rules, state, [pressure(99, 29)])
    assert out == []
    # A late normal reading, or a breach of a rule with for_s (time cannot be judged out of order), raises nothing.
    waits: dict[str, Rule] = {"r2": make_threshold(value=80, for_s=5)}
    state, _ = run(waits, [pressure(60, 50)])
    _, out = late(waits, state, [pressure(99, 49)])
    assert out == []


def test_rule_scope_picks_site_type_and_device() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold(site="south", device_id="TS-09")}
    _, out = run(
        rules, [pressure(99, 0), pressure(99, 1, device="TS-09"), pressure(99, 2, device="TS-09", site="south")]
    )
    assert [(t.kind, t.site, t.device_id) for t in out] == [("fire", "south", "TS-09")]


def test_each_device_has_its_own_alert() -> None:
    _, out = run({"r1": make_threshold()}, [pressure(90, 0, device="TS-01"), pressure(90, 0, device="TS-02")])
    assert [t.subject for t in out] == ["TS-01", "TS-02"]
    assert out[0].fingerprint != out[1].fingerprint


# --- rate --------------------------------------------------------------------------------------


def make_rate(**overrides: Any) -> RateRule:
    body: dict[str, Any] = {
        "name": "pressure rising fast",
        "kind": "rate",
        "metric": "tank_pressure_kpa",
        "op": ">",
        "per_s": 5,
        "window_s": 10,
        "clear_per_s": 1,
        "severity": "critical",
    }
    body.update(overrides)
    rule = parse_rule(body)
    assert isinstance(rule, RateRule)
    return rule


def test_pressure_rising_faster_than_the_bound_fires_a_rate_alert_and_resolves_when_steady() -> None:
    steady = [pressure(100, s) for s in range(0, 10, 2)]
    climbing = [pressure(100 + 8 * (s - 8), s) for s in range(10, 20, 2)]  # +8 kPa/s
    settling = [pressure(180, s) for s in range(20, 40, 2)]
    _, out = run({"rate": make_rate()}, [*steady, *climbing, *settling])
    assert kinds(out)[0] == "fire"
    fire = out[0]
    assert fire.metric == "tank_pressure_kpa_per_s"
    assert fire.value is not None and fire.value > 5
    assert kinds(out)[-1] == "resolve"
    assert out[-1].ts <= at(32)


def test_rate_waits_for_half_a_window_of_history() -> None:
    # Two readings 1 s apart, 50 kPa apart: a slope of 50/s, but only a tenth of the window.
    _, out = run({"rate": make_rate()}, [pressure(100, 0), pressure(150, 1)])
    assert out == []
    _, out = run({"rate": make_rate()}, [pressure(100, 0), pressure(150, 1), pressure(160, 5)])
    assert kinds(out) == ["fire"]


def test_falling_rate_rule_uses_a_negative_bound() -> None:
    rule = make_rate(name="pressure dropping (leak)", op="<", per_s=-2, clear_per_s=-0.5)
    _, out = run({"leak": rule}, [pressure(500 - 3 * s, s) for s in range(0, 12)])
    assert kinds(out)[0] == "fire"
    assert out[0].value == pytest.approx(-3)


def test_rate_state_stays_bounded_for_a_chatty_sensor() -> None:
    rule = make_rate(window_s=600)
    state, _ = run({"rate": rule}, [pressure(100, s / 10) for s in range(1000)])
    sub = state.subject("rate", "TS-01")
    assert sub is not None and 2 <= len(sub.points) <= RATE_MAX_POINTS


# --- absence ---------------------------------------------------------------------------------------


def make_absence(**overrides: Any) -> AbsenceRule:
    body: dict[str, Any] = {"name": "tracker silent", "kind": "absence", "silence_s": 300, "severity": "warning"}
    body.update(overrides)
    rule = parse_rule(body)
    assert isinstance(rule, AbsenceRule)
    return rule


def test_silent_gps_tracker_fires_absence_and_resolves_when_it_reports() -> None:
    rules: dict[str, Rule] = {"quiet": make_absence(device_type="gps_tracker")}
    state, out = run(rules, [gps(0), pressure(50, 0), Tick(at(300))])
    assert out == []  # exactly the limit is not beyond it
    state, out = run(rules, [Tick(at(301)), Tick(at(400))], state)
    assert kinds(out) == ["fire"]
    assert (out[0].subject, out[0].reason, out[0].value) == ("GPS-7", "silence", 301)
    state, out = run(rules, [gps(420)], state)
    assert kinds(out) == ["resolve"]
    assert out[0].reason == "reported"
    _, out = run(rules, [Tick(at(600))], state)
    assert out == []


def test_last_will_offline_fires_absence_at_once() -> None:
    rules: dict[str, Rule] = {"quiet": make_absence()}
    state, _ = run(rules, [gps(0)])
    state, out = run(rules, [DeviceStatus("GPS-7", "north", "offline", at(5))], state)
    assert kinds(out) == ["fire"]
    assert (out[0].reason, out[0].ts, out[0].device_type) == ("offline", at(5), "gps_tracker")
    state, out = run(rules, [Tick(at(1000)), DeviceStatus("GPS-7", "north", "offline", at(1001))], state)
    assert out == []  # already open: one alert, not one per tick or per will


def test_reconnect_without_readings_keeps_the_absence_alert_open() -> None:
    rules: dict[str, Rule] = {"quiet": make_absence()}
    state, _ = run(rules, [gps(0), DeviceStatus("GPS-7", "north", "offline", at(5))])
    state, out = run(rules, [DeviceStatus("GPS-7", "north", "online", at(60))], state)
    assert out == []
    _, out = run(rules, [gps(61)], state)
    assert kinds(out) == ["resolve"]


def test_absence_rule_for_a_named_device_fires_even_if_it_never_reported() -> None:
    rules: dict[str, Rule] = {"q": make_absence(device_id="GAS-3", site="north")}
    _, out = run(rules, [Tick(at(0)), Tick(at(200)), Tick(at(301))])
    assert [(t.kind, t.subject, t.site) for t in out] == [("fire", "GAS-3", "north")]


def test_redelivered_old_reading_does_not_resolve_absence() -> None:
    rules: dict[str, Rule] = {"quiet": make_absence()}
    state, out = run(rules, [gps(100), Tick(at(500))])
    assert kinds(out) == ["fire"]
    _, out = run(rules, [gps(100)], state)
    assert out == []


# --- dwell and gate failures ---------------------------------------------------------------------


def test_tanker_staying_past_the_dwell_limit_fires_and_resolves_when_it_leaves() -> None:
    rule = parse_rule({"name": "overstay", "kind": "dwell", "max_hours": 4, "site": "north", "severity": "warning"})
    assert isinstance(rule, DwellRule)
    rules: dict[str, Rule] = {"dwell": rule}
    state, out = run(
        rules,
        [
            VehicleEntered("浙B12345", "north", at(0), gate_id="G1"),
            VehicleEntered("浙B99999", "north", at(3600)),
            VehicleLeft("浙B99999", "north", at(7200)),
            Tick(at(4 * 3600)),
            Tick(at(4 * 3600 + 1)),
        ],
    )
    assert [(t.kind, t.subject) for t in out] == [("fire", "浙B12345")]
    assert out[0].value == pytest.approx(4.0, abs=0.01)
    state, out = run(rules, [Tick(at(5 * 3600)), VehicleLeft(" 浙b12345 ", "north", at(5 * 3600 + 60))], state)
    assert [(t.kind, t.reason) for t in out] == [("resolve", "vehicle_left")]
    assert state.rules == {}


def test_vehicle_entering_again_ends_the_old_stay() -> None:
    rules: dict[str, Rule] = {
        "dwell": parse_rule({"name": "overstay", "kind": "dwell", "max_hours": 1, "severity": "info"})
    }
    state, out = run(rules, [VehicleEntered("浙B12345", "north", at(0)), Tick(at(3601))])
    assert kinds(out) == ["fire"]
    state, out = run(rules, [VehicleEntered("浙B12345", "north", at(9000)), Tick(at(9100))], state)
    assert [(t.kind, t.reason) for t in out] == [("resolve", "reentered")]


def failed(
    plate: str, s: float, checks: tuple[str, ...], inspection: str = "I-1", gate: str = "G1"
) -> InspectionFailed:
    return InspectionFailed(inspection, plate, "north", gate, at(s), checks, ("face_mismatch",))


def test_failed_inspection_fires_per_inspection_and_repeats_fold_into_one_alert() -> None:
    rule = parse_rule({"name": "gate refused", "kind": "gate_failure", "severity": "warning"})
    assert isinstance(rule, GateFailureRule)
    rules: dict[str, Rule] = {"gf": rule}
    state, out = run(
        rules,
        [
            failed("浙B12345", 0, ("personnel",), "I-1"),
            failed("浙B12345", 0, ("personnel",), "I-1"),  # the same decision again
            failed("浙B12345", 60, ("personnel", "waybill_match"), "I-2"),
            failed("浙B55555", 70, ("permitted_media",), "I-3"),
        ],
    )
    assert [(t.kind, t.subject, t.repeat) for t in out] == [
        ("fire", "浙B12345", False),
        ("update", "浙B12345", True),
        ("fire", "浙B55555", False),
    ]
    assert out[1].details["inspection_id"] == "I-2"
    assert out[1].details["failed_checks"] == ["personnel", "waybill_match"]
    _, out = run(rules, [VehicleEntered("浙B12345", "north", at(600), inspection_id="I-4")], state)
    assert [(t.kind, t.reason, t.subject) for t in out] == [("resolve", "vehicle_passed", "浙B12345")]


def test_gate_failure_rule_can_watch_only_some_checks() -> None:
    rule = parse_rule(
        {"name": "dangerous cargo", "kind": "gate_failure", "check_codes": ["permitted_media"], "severity": "critical"}
    )
    _, out = run({"gf": rule}, [failed("浙B1", 0, ("personnel",)), failed("浙B2", 1, ("permitted_media", "personnel"))])
    assert [t.subject for t in out] == ["浙B2"]


# --- state, restarts, determinism -----------------------------------------------------------------


def test_restart_with_saved_state_does_not_open_a_second_alert() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold(for_s=10, clear_value=70), "quiet": make_absence()}
    events: list[Event] = [pressure(90, 0), pressure(91, 5), pressure(92, 10), pressure(93, 15), Tick(at(400))]
    state, before = run(rules, events)
    assert kinds(before) == ["fire", "update", "fire"]

    saved = state.to_json()
    json.loads(saved)  # plain JSON, fit for a text column
    restored = EngineState.from_json(saved)
    assert restored == state

    later: list[Event] = [Tick(at(500)), pressure(95, 520), pressure(69, 530), Tick(at(700))]
    _, after_restart = run(rules, later, restored)
    _, uninterrupted = run(rules, later, state)
    assert after_restart == uninterrupted
    assert [(t.kind, t.rule_id) for t in after_restart] == [("resolve", "quiet"), ("update", "r1"), ("resolve", "r1")]
    assert "fire" not in kinds(after_restart)


def test_pending_for_s_survives_a_restart() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold(for_s=30)}
    state, _ = run(rules, [pressure(85, 0), pressure(85, 20)])
    _, out = run(rules, [pressure(85, 30)], EngineState.from_json(state.to_json()))
    assert kinds(out) == ["fire"]


def test_unreadable_saved_state_is_refused_clearly() -> None:
    with pytest.raises(StateFormatError, match="version 99 is not supported"):
        EngineState.from_json('{"version": 99}')
    with pytest.raises(StateFormatError):
        EngineState.from_json("not json")


def test_evaluate_never_changes_the_state_it_is_given() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold(), "quiet": make_absence()}
    state, _ = run(rules, [pressure(90, 0)])
    snapshot = state.to_json()
    new, out = evaluate(rules, state, pressure(50, 1))
    assert kinds(out) == ["resolve"]
    assert state.to_json() == snapshot
    assert new != state
    same, out = evaluate(rules, new, VehicleLeft("浙B1", "north", at(2)))
    assert out == [] and same is new


def test_fingerprint_is_stable_across_processes() -> None:
    expected = hashlib.sha256(b"r1\x1fTS-01").hexdigest()[:32]
    assert fingerprint("r1", "TS-01") == expected
    assert fingerprint("r1", "TS-01") != fingerprint("r1", "TS-02")


def test_deleted_rule_resolves_its_open_alerts_on_the_next_tick() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold()}
    state, _ = run(rules, [pressure(90, 0)])
    state, out = run({}, [Tick(at(10))], state)
    assert [(t.kind, t.reason, t.rule_name) for t in out] == [("resolve", "rule_removed", "tank overpressure")]
    assert state.rules == {}


def test_officer_resolving_by_hand_lets_a_lasting_condition_fire_again() -> None:
    rules: dict[str, Rule] = {"r1": make_threshold()}
    state, out = run(rules, [pressure(90, 0)])
    alert = fold(None, out[0])
    assert alert is not None
    alert = resolve(alert, "officer.wang", at(1), "valve checked")
    state = release(state, alert.rule_id, alert.subject)
    _, out = run(rules, [pressure(91, 2)], state)
    assert kinds(out) == ["fire"]
    assert fold(alert, out[0]) is not None and fold(alert, out[0]) != alert


# --- lifecycle ---------------------------------------------------------------------------------------


def fired_alert(**rule_overrides: Any) -> tuple[Alert, list[Transition]]:
    _, out = run(
        {"r1": make_threshold(**rule_overrides)}, [pressure(90, 0), pressure(95, 5), pressure(78, 6), pressure(70, 10)]
    )
    alert = open_alert(out[0])
    return alert, out[1:]


def test_alert_opens_counts_repeats_and_resolves_automatically() -> None:
    alert, rest = fired_alert(clear_value=75)
    assert (alert.state, alert.count, alert.value, alert.started_at) == ("firing", 1, 90, at(0))
    current: Alert | None = alert
    for t in rest:
        current = fold(current, t)
        assert current is not None
    assert current is not None
    assert (current.state, current.count, current.value) == ("resolved", 2, 78)
    assert (current.resolved_by, current.resolve_reason, current.resolved_at) == ("hazgate", "cleared", at(10))
    assert [h.what for h in current.history] == ["fired", "resolved"]
    assert current.id == alert.id


def test_alert_id_is_deterministic_for_the_same_firing() -> None:
    alert, _ = fired_alert()
    again, _ = fired_alert()
    assert alert.id == again.id


def test_acknowledging_twice_is_harmless_and_a_resolved_alert_cannot_be_acknowledged() -> None:
    alert, _ = fired_alert()
    acked = acknowledge(alert, "officer.li", at(30), "on my way")
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == ("acknowledged", "officer.li", at(30))
    assert acknowledge(acked, "officer.zhao", at(40)) == acked
    closed = resolve(acked, "officer.li", at(50))
    assert (closed.state, closed.resolved_by, closed.resolve_reason) == ("resolved", "officer.li", "manual")
    with pytest.raises(AlertStateError, match="already resolved"):
        acknowledge(closed, "officer.li", at(60))


POLICY = EscalationPolicy(
    tiers=(Tier(after_s=300, targets=("shift-lead",)), Tier(after_s=900, targets=("safety-manager", "shift-lead"))),
    repeat_interval_s=600,
)


def deliver(
    alert: Alert,
    policy: EscalationPolicy,
    now: datetime,
    sent: dict[str, datetime],
    silences: list[Silence] | None = None,
) -> list[str]:
    """What an outbox adapter does on each timer tick: queue what is due, remember it."""
    due = due_notifications(alert, policy, silences or [], now, sent)
    for n in due:
        sent[n.delivery_key] = now
    return [f"{n.kind}:{n.tier}:{n.sequence}" for n in due]


def test_unacknowledged_alert_escalates_tier_by_tier_and_repeats() -> None:
    alert, _ = fired_alert()
    sent: dict[str, datetime] = {}
    timeline = {s: deliver(alert, POLICY, at(s), sent) for s in (0, 300, 900, 1499, 1500, 2100, 2101)}
    assert timeline == {
        0: ["firing:0:0"],
        300: ["escalation:1:0"],
        900: ["escalation:2:0"],  # a repeat is not sent together with an escalation
        1499: [],
        1500: ["repeat:0:1"],
        2100: ["repeat:0:2"],
        2101: [],
    }


def test_ack_stops_escalation() -> None:
    alert, _ = fired_alert()
    sent: dict[str, datetime] = {}
    deliver(alert, POLICY, at(0), sent)
    acked = acknowledge(alert, "officer.li", at(120))
    assert deliver(acked, POLICY, at(300), sent) == []
    assert deliver(acked, POLICY, at(5000), sent) == []
    told = EscalationPolicy(tiers=POLICY.tiers, repeat_interval_s=600, notify_acknowledged=True)
    assert deliver(acked, told, at(5001), sent) == ["acknowledged:0:0"]
    assert deliver(acked, told, at(5002), sent) == []


def test_resolve_notifies() -> None:
    alert, rest = fired_alert()
    sent: dict[str, datetime] = {}
    deliver(alert, POLICY, at(0), sent)
    deliver(alert, POLICY, at(300), sent)
    current: Alert | None = alert
    for t in rest:
        current = fold(current, t)
    assert current is not None and current.state == "resolved"
    due = due_notifications(current, POLICY, [], at(400), sent)
    assert [(n.kind, n.to_matching, n.targets) for n in due] == [("resolved", True, ("shift-lead",))]
    sent[due[0].delivery_key] = at(400)
    assert due_notifications(current, POLICY, [], at(401), sent) == []


def test_silence_holds_notifications_until_it_ends() -> None:
    alert, _ = fired_alert()
    maintenance = Silence(
        matchers=SilenceMatchers(site="north", device_id="TS-01"),
        starts_at=at(-60),
        ends_at=at(1800),
        reason="relief valve replacement",
        created_by="officer.li",
    )
    sent: dict[str, datetime] = {}
    assert deliver(alert, POLICY, at(0), sent, [maintenance]) == []
    assert deliver(alert, POLICY, at(1000), sent, [maintenance]) == []
    assert deliver(alert, POLICY, at(1800), sent, [maintenance]) == ["firing:0:0"]
    # Escalation counts from when the firing went out, not from when the alert started.
    assert deliver(alert, POLICY, at(1801), sent, [maintenance]) == []
    assert deliver(alert, POLICY, at(2100), sent, [maintenance]) == ["escalation:1:0"]


def test_alert_that_fires_and_clears_inside_a_silence_notifies_nobody() -> None:
    alert, rest = fired_alert()
    current: Alert | None = alert
    for t in rest:
        current = fold(current, t)
    assert current is not None
    silence = Silence(
        matchers=SilenceMatchers(rule_id="r1"), starts_at=at(-1), ends_at=at(60), reason="drill", created_by="admin"
    )
    sent: dict[str, datetime] = {}
    assert deliver(current, POLICY, at(30), sent, [silence]) == []
    assert deliver(current, POLICY, at(61), sent, [silence]) == []


def test_silence_needs_a_matcher_and_an_end_after_its_start() -> None:
    with pytest.raises(ValidationError, match="may not silence everything"):
        Silence(matchers=SilenceMatchers(), starts_at=at(0), ends_at=at(60), reason="x", created_by="admin")
    with pytest.raises(ValidationError, match="must be after starts_at"):
        Silence(matchers=SilenceMatchers(site="north"), starts_at=at(60), ends_at=at(0), reason="x", created_by="admin")


def test_regenerated_notifications_after_a_restart_have_the_same_delivery_keys() -> None:
    alert, _ = fired_alert()
    queued = {f"{alert.id}/firing/0/0": at(0)}
    first = due_notifications(alert, POLICY, [], at(300), queued)
    reloaded = Alert.model_validate_json(alert.model_dump_json())
    again = due_notifications(reloaded, POLICY, [], at(300), dict(queued))
    assert first == again
    assert [n.delivery_key for n in first] == [f"{alert.id}/escalation/1/0"]
    assert due_notifications(alert, POLICY, [], at(301), {**queued, first[0].delivery_key: at(300)}) == []
    assert delivery_id(first[0].delivery_key, "sub-1") == delivery_id(first[0].delivery_key, "sub-1")
    assert delivery_id(first[0].delivery_key, "sub-1") != delivery_id(first[0].delivery_key, "sub-2")


def test_recipients_follow_subscription_filters_and_escalation_targets() -> None:
    alert, _ = fired_alert(severity="warning")
    subs = {
        "all": parse_subscription({"channel": "stream"}),
        "critical-only": parse_subscription(
            {"channel": "email", "to": "boss@park.example.cn", "min_severity": "critical"}
        ),
        "south": parse_subscription({"channel": "mqtt", "topic": "park/south/alerts", "site": "south"}),
        "gps-only": parse_subscription({"channel": "stream", "device_type": "gps_tracker"}),
        "shift-lead": parse_subscription(
            {"channel": "webhook", "url": "http://127.0.0.1:9/h", "secret": "k", "min_severity": "critical"}
        ),
    }
    (firing,) = due_notifications(alert, POLICY, [], at(0), {})
    (escalation,) = due_notifications(alert, POLICY, [], at(300), {firing.delivery_key: at(0)})
    assert recipients(firing, alert, subs) == ["all"]
    assert recipients(escalation, alert, subs) == ["shift-lead"]


# --- payload and webhooks ---------------------------------------------------------------------------


def test_webhook_signature_is_hmac_sha256_of_the_raw_body() -> None:
    # RFC 4231 test case 2.
    assert sign(b"what do ya want for nothing?", "Jefe") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    body = encode_body({"alert_id": "a-1", "site": "北区", "value": 81.5})
    expected = hmac.new(b"subscriber-secret", body, hashlib.sha256).hexdigest()
    assert sign(body, "subscriber-secret") == f"sha256={expected}"


def test_receiver_verification_refuses_tampering_and_garbage() -> None:
    body = encode_body({"alert_id": "a-1", "value": 81.5})
    good = sign(body, "k")
    assert verify_signature(body, "k", good)
    assert verify_signature(body, "k", "  " + good.upper() + " ")
    assert not verify_signature(body + b" ", "k", good)
    assert not verify_signature(body, "other", good)
    for bad in (None, "", "sha256=", good[7:], "sha256=zz", "sha256=é" * 3):
        assert not verify_signature(body, "k", bad)


def test_alert_body_carries_the_contract_fields() -> None:
    alert, _ = fired_alert()
    firing = due_notifications(alert, POLICY, [], at(0), {})[0]
    body = alert_body(alert, firing)
    for key in (
        "alert_id",
        "rule_id",
        "rule",
        "state",
        "severity",
        "site",
        "device_id",
        "metric",
        "value",
        "started_at",
        "updated_at",
    ):
        assert key in body
    assert body["rule"] == "tank overpressure"
    assert (body["state"], body["severity"], body["value"], body["started_at"]) == (
        "firing",
        "critical",
        90,
        "2025-03-01T08:00:00Z",
    )
    assert (body["count"], body["subject"], body["fingerprint"]) == (1, "TS-01", alert.fingerprint)
    assert body["notification"] == {"kind": "firing", "tier": 0, "sequence": 0, "delivery_key": firing.delivery_key}
    assert json.loads(encode_body(body)) == body
    assert "history" in alert_body(alert, with_history=True)


def test_retry_backoff_grows_is_capped_and_repeats_exactly_after_a_restart() -> None:
    delays = [next_attempt_delay_s(n, "d-1") for n in range(1, 15)]
    assert delays == [next_attempt_delay_s(n, "d-1") for n in range(1, 15)]
    for n, d in enumerate(delays, start=1):
        nominal = min(300.0, 2.0 ** (n - 1))
        assert nominal * 0.8 <= d <= nominal
    assert delays[0] < delays[3] < delays[6]
    assert next_attempt_delay_s(10_000, "d-1") <= 300
    assert next_attempt_delay_s(5, "d-1") != next_attempt_delay_s(5, "d-2")
    assert next_attempt_delay_s(3, "x", Backoff(base_s=10, factor=3, cap_s=60, jitter=0)) == 60
    with pytest.raises(ValueError, match="starts at 1"):
        next_attempt_delay_s(0)


def test_events_must_carry_timezone_aware_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Reading("TS-01", "north", "tank_sensor", datetime(2025, 3, 1, 8, 0), {"tank_pressure_kpa": 1.0})
