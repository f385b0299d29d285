"""What the gateway hands around: paho messages converted at once to our own frozen type.

Topics (format, parse, match) live in :mod:`hazgate.topics`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    received_at: float  # time.time() when the callback saw it
