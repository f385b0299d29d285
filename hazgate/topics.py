"""hazgate's MQTT topics (CONTRACT.md "MQTT"): the one place they are formatted, parsed and matched.

Pure: no client, no I/O. Everything that publishes or subscribes (gateway, API, alert delivery,
simulator, benchmarks, the broker's ACL) builds its topic strings and filters here, so the tree
below ``hazgate/v1`` has one definition::

    hazgate/v1/{site}/devices/{device_id}/{telemetry|status|event}   devices → hazgate
    hazgate/v1/{site}/gates/{gate_id}/{decision|barrier}             hazgate → kiosks, barriers
    hazgate/v1/_service/...                                          hazgate's own bookkeeping

Names (sites, device and gate ids) are the registry's: a letter or digit, then letters, digits,
``_``, ``.`` or ``-``, at most 64; they never hold ``/``, ``+`` or ``#``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

ROOT: Final = "hazgate/v1"
SERVICE_ROOT: Final = f"{ROOT}/_service"
ANY: Final = "+"  # one level, in a filter
REST: Final = "#"  # this level and every one below, in a filter

NAME_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_NAME = re.compile(rf"^{NAME_PATTERN}$")


class DeviceKind(StrEnum):
    """What a device publishes."""

    TELEMETRY = "telemetry"
    STATUS = "status"  # retained; the device's last will says offline
    EVENT = "event"  # gate events (plate, id_card, face, weight, waybill)


class GateKind(StrEnum):
    """What hazgate publishes to a gate."""

    DECISION = "decision"  # retained: a kiosk that reconnects shows the current state
    BARRIER = "barrier"  # not retained: a barrier that reconnects must not open again


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    site: str
    device_id: str
    kind: DeviceKind

    def __str__(self) -> str:
        return device_topic(self.site, self.device_id, self.kind)


@dataclass(frozen=True, slots=True)
class GateTopic:
    site: str
    gate_id: str
    kind: GateKind

    def __str__(self) -> str:
        return gate_topic(self.site, self.gate_id, self.kind)


Topic = DeviceTopic | GateTopic


# -- format -------------------------------------------------------------------------------------
def device_topic(site: str, device_id: str, kind: DeviceKind | str) -> str:
    """``hazgate/v1/{site}/devices/{device_id}/{kind}``; in a filter a level may be ``+`` (the
    kind also ``#``)."""
    return f"{ROOT}/{site}/devices/{device_id}/{_level(DeviceKind, kind)}"


def gate_topic(site: str, gate_id: str, kind: GateKind | str) -> str:
    """``hazgate/v1/{site}/gates/{gate_id}/{kind}``; in a filter a level may be ``+`` (the kind
    also ``#``)."""
    return f"{ROOT}/{site}/gates/{gate_id}/{_level(GateKind, kind)}"


def _level(kinds: type[DeviceKind] | type[GateKind], kind: str) -> str:
    """The last level: a known kind (ValueError otherwise) or a wildcard."""
    return kind if kind in (ANY, REST) else kinds(kind).value


def device_filter(kind: DeviceKind | str = ANY, *, site: str = ANY, device_id: str = ANY) -> str:
    """A subscription filter over device topics: every site and device unless narrowed."""
    return device_topic(site, device_id, kind)


def gate_filter(kind: GateKind | str = ANY, *, site: str = ANY, gate_id: str = ANY) -> str:
    """A subscription filter over gate topics: every site and gate unless narrowed."""
    return gate_topic(site, gate_id, kind)


def everything(site: str | None = None) -> str:
    """``hazgate/v1/#`` (or one site's subtree)."""
    return f"{ROOT}/#" if site is None else f"{ROOT}/{site}/#"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 / Mosquitto shared subscription: the broker hands each message to one member."""
    return f"$share/{group}/{topic_filter}"


def gateway_subscriptions(share_group: str) -> list[str]:
    """What every gateway subscribes to: all device topics, shared by the group."""
    return [shared(share_group, device_filter(kind)) for kind in DeviceKind]


def service_topic(*levels: str) -> str:
    """``hazgate/v1/_service/...``: hazgate's own retained bookkeeping (never a site: ``_``)."""
    return "/".join((SERVICE_ROOT, *levels))


# -- parse --------------------------------------------------------------------------------------
def parse(topic: str) -> Topic | None:
    """A device or gate topic → its parts; None for anything else (other roots, wildcards,
    names the registry could not hold, wrong depth, unknown kinds)."""
    parts = topic.split("/")
    if len(parts) != 6 or f"{parts[0]}/{parts[1]}" != ROOT:
        return None
    _, _, site, group, ident, kind = parts
    if not (_NAME.match(site) and _NAME.match(ident)):
        return None
    if group == "devices" and kind in DeviceKind.__members__.values():
        return DeviceTopic(site, ident, DeviceKind(kind))
    if group == "gates" and kind in GateKind.__members__.values():
        return GateTopic(site, ident, GateKind(kind))
    return None


def parse_device(topic: str) -> DeviceTopic | None:
    """A device topic → its parts (what the gateway accepts); None for anything else."""
    parsed = parse(topic)
    return parsed if isinstance(parsed, DeviceTopic) else None


def is_reserved(topic: str) -> bool:
    """A topic under a device or gate (or hazgate's own ``_service``): where no one else may publish."""
    parts = topic.split("/")
    if len(parts) < 3 or f"{parts[0]}/{parts[1]}" != ROOT:
        return False
    return parts[2] == "_service" or (len(parts) >= 4 and parts[3] in ("devices", "gates"))


# -- match --------------------------------------------------------------------------------------
def matches(topic_filter: str, topic: str) -> bool:
    """MQTT's filter matching (``+`` one level, ``#`` the rest, ``$share/{group}/`` ignored;
    topics starting with ``$`` match no leading wildcard)."""
    if topic_filter.startswith("$share/"):
        topic_filter = topic_filter.split("/", 2)[2] if topic_filter.count("/") >= 2 else ""
    want, have = topic_filter.split("/"), topic.split("/")
    if have[0].startswith("$") and want[0] in (ANY, "#"):
        return False
    for i, level in enumerate(want):
        if level == "#":
            return i == len(want) - 1
        if i >= len(have):
            return False
        if level != ANY and level != have[i]:
            return False
    return len(want) == len(have)
