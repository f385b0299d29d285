"""The gateways' session registry, kept on the broker as retained messages (pure encode/decode).

Mosquitto 2.0 restores a persistent session after a restart (and the messages it had saved for
it) but not the session's *shared* subscriptions: until the gateway has reconnected and
subscribed again, a device's message matches no subscriber and the broker drops it, after it
has acknowledged it to the device. So each gateway, when it connects, publishes what its session
needs (client id, protocol, share group, topics) as a retained message under
``hazgate/v1/_service/gateways/``; the broker persists retained messages with its sessions, and
whoever starts the broker (hazgate/services/mosquitto.py) re-subscribes every registered
session before it lets devices in.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Final
from urllib.parse import quote

from hazgate.topics import service_topic

# Site names start with a letter or digit, so no device topic can fall under this prefix.
REGISTRY_TOPIC: Final = service_topic("gateways")
REGISTRY_FILTER: Final = f"{REGISTRY_TOPIC}/+"
# A session the broker keeps this long after its client went (mosquitto's
# persistent_client_expiration, MQTT 5 session expiry); a registration older than this is stale.
SESSION_EXPIRY_S: Final = 14 * 24 * 3600


@dataclass(frozen=True, slots=True)
class GatewaySession:
    client_id: str
    protocol: str  # "3.1.1" or "5"
    share_group: str
    topics: tuple[str, ...]
    host: str
    seen_at: datetime  # when its gateway last connected


def registry_topic(client_id: str) -> str:
    # quote: a client id may hold characters with a meaning in topics (/, +, #).
    return f"{REGISTRY_TOPIC}/{quote(client_id, safe='')}"


def encode(session: GatewaySession) -> bytes:
    body = asdict(session)
    body["topics"] = list(session.topics)
    body["seen_at"] = session.seen_at.isoformat()
    return json.dumps(body).encode()


def decode(payload: bytes) -> GatewaySession | None:
    """None for an empty (cleared) or unreadable registration."""
    try:
        body = json.loads(payload)
        session = GatewaySession(
            client_id=str(body["client_id"]),
            protocol=str(body["protocol"]),
            share_group=str(body["share_group"]),
            topics=tuple(str(t) for t in body["topics"]),
            host=str(body.get("host", "")),
            seen_at=datetime.fromisoformat(str(body["seen_at"])),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if session.protocol not in ("3.1.1", "5") or not session.topics or session.seen_at.tzinfo is None:
        return None
    return session


def is_stale(session: GatewaySession, now: datetime) -> bool:
    return (now - session.seen_at).total_seconds() > SESSION_EXPIRY_S
