"""Reassembly of sub-packets (message property bit 13) into whole messages, pure.

One :class:`Reassembler` per connection. A long message arrives as packets ``1 .. total`` of
the same message id; their bodies, in index order, are the message body. Time is passed in,
so a test drives the clock. Bounds keep one terminal from holding much memory: at most
``max_pending`` messages in progress and ``MAX_PACKETS`` packets each; a message not complete
within ``timeout_s`` of its first packet is dropped and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from gateway.jt808.errors import BadHeader, IncompleteMessage, Jt808Error
from gateway.jt808.protocol import Header, Packet

# 256 packets x 1023 bytes is a 256 KB message: more than any location batch needs.
MAX_PACKETS: Final = 256


@dataclass(slots=True)
class _Partial:
    first: Header
    started_at: float
    parts: dict[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Assembled:
    """A whole message. ``header`` is the first packet's, without sub-packet fields;
    ``last_serial`` is the serial of the packet that completed it (the one to answer)."""

    packet: Packet
    last_serial: int


class Reassembler:
    def __init__(self, *, timeout_s: float = 60.0, max_pending: int = 4) -> None:
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self._pending: dict[tuple[int, int], _Partial] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, packet: Packet, now: float) -> tuple[Assembled | None, list[Jt808Error]]:
        """Take one packet; return the message it completes (if any) and messages given up."""
        header = packet.header
        if header.subpacket is None:
            return Assembled(packet, header.serial), []
        total, index = header.subpacket
        if total > MAX_PACKETS:
            raise BadHeader(f"a message in {total} sub-packets (at most {MAX_PACKETS})", header=header)
        dropped = self.expire(now)
        key = (header.msg_id, total)
        partial = self._pending.get(key)
        if partial is not None and index == 1 and 1 in partial.parts and partial.parts[1] != packet.body:
            # A new message of the same kind starts while the last one is unfinished.
            dropped.append(self._give_up(key, "a new message of the same id started"))
            partial = None
        if partial is None:
            if len(self._pending) >= self.max_pending:
                oldest = min(self._pending, key=lambda k: self._pending[k].started_at)
                dropped.append(self._give_up(oldest, f"more than {self.max_pending} messages in progress"))
            partial = _Partial(header, now)
            self._pending[key] = partial
        if index == 1:
            partial.first = header
        partial.parts[index] = packet.body
        if len(partial.parts) < total:
            return None, dropped
        del self._pending[key]
        body = b"".join(partial.parts[i] for i in range(1, total + 1))
        whole = replace(partial.first, subpacket=None, body_length=len(body))
        return Assembled(Packet(whole, body), header.serial), dropped

    def expire(self, now: float) -> list[Jt808Error]:
        """Give up messages whose first packet came more than ``timeout_s`` ago."""
        old = [k for k, p in self._pending.items() if now - p.started_at > self.timeout_s]
        return [self._give_up(k, f"not complete within {self.timeout_s:g} s") for k in old]

    def _give_up(self, key: tuple[int, int], why: str) -> IncompleteMessage:
        partial = self._pending.pop(key)
        msg_id, total = key
        have = sorted(partial.parts)
        return IncompleteMessage(
            f"message 0x{msg_id:04x} in {total} sub-packets dropped with packets {have} only: {why}",
            header=partial.first,
            hint="the terminal must send the whole message again",
        )
