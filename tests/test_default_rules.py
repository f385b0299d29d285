"""A new park installs the default rule set: gas alarms at 25 % and 50 % LEL (GB/T 50493-2019),
tank over-pressure, silent trackers and detectors, overstaying tankers, failed gate checks."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError

from alerts.defaults import DefaultRules, default_rule_id, rules_for_site
from alerts.models import (
    AbsenceRule,
    DwellRule,
    GateFailureRule,
    OffRouteRule,
    SpeedingRule,
    StopRule,
    ThresholdRule,
    ZoneRule,
)
from hazgate.cli import main
from hazgate.rules import load_default_rules

KINDS = {"threshold", "absence", "dwell", "gate_failure", "speeding", "zone", "stop", "off_route"}


@pytest.fixture
def cli(settings, monkeypatch, capsys):
    monkeypatch.setenv("HAZGATE_DATABASE_URL", settings.db_url)

    def run(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        return code, capsys.readouterr().out

    return run


def test_the_shipped_rules_are_the_ones_the_standard_and_the_park_ask_for() -> None:
    rules = {r.key: r.rule for r in rules_for_site(load_default_rules(), "north")}
    first, second = rules["gas-lel-first-alarm"], rules["gas-lel-second-alarm"]
    assert isinstance(first, ThresholdRule) and isinstance(second, ThresholdRule)
    assert (first.metric, first.op, first.value, first.severity) == ("gas_lel_pct", ">=", 25, "warning")
    assert (second.metric, second.op, second.value, second.severity) == ("gas_lel_pct", ">=", 50, "critical")
    pressure = rules["tank-overpressure"]
    assert isinstance(pressure, ThresholdRule) and pressure.metric == "tank_pressure_kpa"
    assert pressure.value < 2200, "below a propylene tank's design pressure, before its relief valve lifts"
    silent = [r for r in rules.values() if isinstance(r, AbsenceRule)]
    assert {r.device_type for r in silent} == {"gps_tracker", "gas_detector"}
    overstay = rules["tanker-overstay"]
    assert isinstance(overstay, DwellRule) and overstay.max_hours == 6
    assert isinstance(rules["gate-check-failed"], GateFailureRule)
    # Closed-park management: on the park's roads, at their limits, out of restricted zones.
    restricted = rules["vehicle-restricted-zone"]
    assert isinstance(restricted, ZoneRule) and restricted.zone_kinds == ("restricted",)
    assert restricted.severity == "critical"
    assert isinstance(rules["vehicle-speeding"], SpeedingRule) and isinstance(rules["vehicle-stopped"], StopRule)
    assert isinstance(rules["vehicle-off-route"], OffRouteRule)
    assert {r.kind for r in rules.values()} == KINDS
    assert all(r.site == "north" for r in rules.values())
    assert all(d.source for d in load_default_rules().rules), "every rule says where it comes from"


def test_a_default_rule_that_is_no_longer_a_valid_rule_is_refused_like_an_api_body() -> None:
    broken = DefaultRules.model_validate(
        {
            "rules": [
                {
                    "key": "psi",
                    "source": "typo",
                    "rule": {
                        "name": "x",
                        "kind": "threshold",
                        "metric": "tank_pressure_psi",
                        "op": ">",
                        "value": 1,
                        "severity": "info",
                    },
                }
            ]
        }
    )
    with pytest.raises(ValidationError, match="unknown metric 'tank_pressure_psi'"):
        rules_for_site(broken, "north")


def test_a_park_installs_the_defaults_once_and_the_api_serves_them(cli, api) -> None:
    site = f"dr{uuid.uuid4().hex[:6]}"
    code, out = cli("rules", "install-defaults", "--site", site, "--json")
    first = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and first["site"] == site
    assert {r["state"] for r in first["rules"]} == {"installed"} and len(first["rules"]) == 11

    code, out = cli("rules", "install-defaults", "--site", site, "--json")
    again = json.loads(out.strip().splitlines()[-1])
    assert {r["state"] for r in again["rules"]} == {"present"}, "a second install adds nothing"

    listed = [r for r in api.get("/api/v1/rules").json() if r.get("site") == site]
    assert sorted(r["id"] for r in listed) == sorted(r["id"] for r in first["rules"])
    gas = next(r for r in listed if r["id"] == str(default_rule_id(site, "gas-lel-first-alarm")))
    assert gas["metric"] == "gas_lel_pct" and gas["value"] == 25 and gas["enabled"]

    # An officer decides the park needs no overstay rule: installing again does not bring it back.
    overstay = str(default_rule_id(site, "tanker-overstay"))
    assert api.delete(f"/api/v1/rules/{overstay}").status_code == 200
    code, out = cli("rules", "install-defaults", "--site", site)
    assert code == 0 and "10 already there, 1 deleted by an officer (left deleted)" in out
    assert overstay not in {r["id"] for r in api.get("/api/v1/rules").json()}
    for rule in first["rules"]:
        api.delete(f"/api/v1/rules/{rule['id']}")


def test_a_site_name_that_could_not_be_a_site_is_refused_with_a_hint(cli) -> None:
    code, out = cli("rules", "install-defaults", "--site", "park 1/north", "--json")
    assert code == 1
    error = json.loads(out.strip().splitlines()[-1])
    assert "park 1/north" in error["message"] and "letters, digits" in error["hint"]
