"""hazgate's MQTT topics, the one module that formats, parses and matches them (CONTRACT.md "MQTT").

The strings here are written out by hand from the contract, not built with the module under test.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hazgate import topics
from hazgate.topics import DeviceKind, DeviceTopic, GateKind, GateTopic

names = st.from_regex(topics.NAME_PATTERN, fullmatch=True)


def test_a_tank_sensor_s_telemetry_topic_is_the_contract_s():
    assert topics.device_topic("park1", "tank-7", DeviceKind.TELEMETRY) == "hazgate/v1/park1/devices/tank-7/telemetry"
    assert topics.gate_topic("park1", "g1", GateKind.BARRIER) == "hazgate/v1/park1/gates/g1/barrier"
    assert str(DeviceTopic("p", "d", DeviceKind.STATUS)) == "hazgate/v1/p/devices/d/status"


def test_an_unknown_kind_is_refused_when_formatting():
    with pytest.raises(ValueError):
        topics.device_topic("park1", "d1", "telemetri")
    with pytest.raises(ValueError):
        topics.gate_topic("park1", "g1", "telemetry")


def test_filters_cover_every_site_unless_narrowed():
    assert topics.gate_filter(GateKind.DECISION) == "hazgate/v1/+/gates/+/decision"
    assert topics.device_filter(DeviceKind.TELEMETRY, site="p1") == "hazgate/v1/p1/devices/+/telemetry"
    assert topics.device_topic("p1", "cam", topics.REST) == "hazgate/v1/p1/devices/cam/#"
    assert topics.everything() == "hazgate/v1/#"
    assert topics.gateway_subscriptions("grp") == [
        "$share/grp/hazgate/v1/+/devices/+/telemetry",
        "$share/grp/hazgate/v1/+/devices/+/status",
        "$share/grp/hazgate/v1/+/devices/+/event",
    ]


def test_a_device_or_gate_topic_parses_into_its_parts():
    assert topics.parse("hazgate/v1/park1/devices/d1/event") == DeviceTopic("park1", "d1", DeviceKind.EVENT)
    assert topics.parse("hazgate/v1/park1/gates/g1/decision") == GateTopic("park1", "g1", GateKind.DECISION)
    assert topics.parse_device("hazgate/v1/park1/gates/g1/decision") is None


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/park1/devices/d1/telemetry",  # another root
        "hazgate/v2/park1/devices/d1/telemetry",  # another version
        "hazgate/v1/park1/devices/d1",  # too short
        "hazgate/v1/park1/devices/d1/telemetry/x",  # too long
        "hazgate/v1/park1/devices/d1/decision",  # a gate's kind under a device
        "hazgate/v1/park1/gates/g1/telemetry",  # a device's kind under a gate
        "hazgate/v1/park1/trucks/d1/telemetry",  # no such group
        "hazgate/v1/+/devices/d1/telemetry",  # a filter, not a topic
        "hazgate/v1/_service/devices/d1/status",  # hazgate's own subtree is no site
        "hazgate/v1/park1/devices//telemetry",  # an empty name
        "hazgate/v1/park1/devices/" + "d" * 65 + "/telemetry",  # longer than the registry allows
    ],
)
def test_anything_else_is_not_a_device_or_gate_topic(topic):
    assert topics.parse(topic) is None


@given(names, names, st.sampled_from(DeviceKind))
def test_device_topics_round_trip(site, device_id, kind):
    topic = topics.device_topic(site, device_id, kind)
    assert topics.parse(topic) == DeviceTopic(site, device_id, kind)
    assert topics.matches(topics.device_filter(kind), topic)
    assert topics.matches(topics.shared("g", topics.device_filter(kind, site=site)), topic)


@given(names, names, st.sampled_from(GateKind))
def test_gate_topics_round_trip(site, gate_id, kind):
    topic = topics.gate_topic(site, gate_id, kind)
    assert topics.parse(topic) == GateTopic(site, gate_id, kind)
    assert topics.matches(topics.gate_filter(site=site, gate_id=gate_id), topic)
    assert not topics.matches(topics.device_filter(), topic)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("hazgate/v1/#", "hazgate/v1/p/devices/d/status", True),
        ("hazgate/v1/p/#", "hazgate/v1/p", True),  # '#' also matches its parent level
        ("hazgate/v1/+/devices/+/status", "hazgate/v1/p/devices/d/status", True),
        ("hazgate/v1/+/devices/+/status", "hazgate/v1/p/devices/d/telemetry", False),
        ("hazgate/v1/+/devices/+", "hazgate/v1/p/devices/d/status", False),  # '+' is one level
        ("hazgate/v1/+/devices/+/status", "hazgate/v1/p/devices/status", False),
        ("$share/grp/hazgate/v1/+/devices/+/event", "hazgate/v1/p/devices/d/event", True),
        ("#", "$SYS/broker/uptime", False),  # '$' topics match no leading wildcard
        ("+/broker/uptime", "$SYS/broker/uptime", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
    ],
)
def test_filters_match_as_mqtt_says(topic_filter, topic, expected):
    assert topics.matches(topic_filter, topic) is expected


def test_device_gate_and_service_topics_are_reserved_for_their_owners():
    assert topics.is_reserved("hazgate/v1/p/devices/d/telemetry")
    assert topics.is_reserved("hazgate/v1/p/gates/g/barrier")
    assert topics.is_reserved("hazgate/v1/_service/gateways/x")
    assert not topics.is_reserved("hazgate/v1/p/alerts")
    assert not topics.is_reserved("ops/alerts")
