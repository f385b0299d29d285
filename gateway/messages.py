"""What the gateway hands around: paho messages converted at once to our own frozen type."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

TOPIC_ROOT = "hazgate/v1"
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
DEVICE_TOPIC = re.compile(
    rf"^hazgate/v1/(?P<site>{_NAME})/devices/(?P<device_id>{_NAME})/(?P<kind>telemetry|status|event)$"
)


class TopicKind(StrEnum):
    TELEMETRY = "telemetry"
    STATUS = "status"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    received_at: float  # time.time() when the callback saw it


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    site: str
    device_id: str
    kind: TopicKind


def parse_topic(topic: str) -> DeviceTopic | None:
    match = DEVICE_TOPIC.match(topic)
    if match is None:
        return None
    return DeviceTopic(match["site"], match["device_id"], TopicKind(match["kind"]))


def subscriptions(share_group: str) -> list[str]:
    """Shared subscriptions: the broker splits messages between the gateways of one group."""
    return [f"$share/{share_group}/{TOPIC_ROOT}/+/devices/+/{kind.value}" for kind in TopicKind]
