"""Is another client using our client id? A pure decision on the connection's history.

A broker keeps one connection per client id: when a second client connects with the same id,
the first is disconnected (MQTT 5 tells it: reason 0x8E, session taken over). Two processes
configured with one id would then take the session from each other for ever, each reconnecting
a second after it is dropped. That must be a start-up error naming the setting, never a flap.

MQTT 3.1.1 gives no reason on a disconnect, so there the evidence is a pattern: sessions that
end within ``short_session_s`` of being accepted, ``limit`` times in a row, each followed by an
immediately successful reconnect (a broker that went away would refuse connections for a while
and reset the count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# MQTT 5 DISCONNECT reason "Session taken over".
SESSION_TAKEN_OVER: Final = 0x8E
SHORT_SESSION_S: Final = 5.0
SHORT_SESSIONS_LIMIT: Final = 3


@dataclass
class TakeoverWatch:
    short_session_s: float = SHORT_SESSION_S
    limit: int = SHORT_SESSIONS_LIMIT
    _connected_at: float | None = None
    _short_in_a_row: int = 0

    def connected(self, now: float) -> None:
        self._connected_at = now

    def connect_failed(self) -> None:
        """The broker was unreachable or refused us: whatever ended the last session, it was not a twin."""
        self._short_in_a_row = 0

    def disconnected(self, now: float, reason_code: int | None) -> bool:
        """True when the evidence says another client took our session."""
        if reason_code == SESSION_TAKEN_OVER:
            return True
        started, self._connected_at = self._connected_at, None
        if started is None:
            return False
        if now - started < self.short_session_s:
            self._short_in_a_row += 1
        else:
            self._short_in_a_row = 0
        return self._short_in_a_row >= self.limit
