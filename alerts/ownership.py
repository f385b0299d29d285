"""Which live process evaluates which partitions (adapter): session advisory locks.

A process joins by taking ``(MEMBER_LOCK_KEY, member)`` and owns partition p while it holds
``(PARTITION_LOCK_KEY, p)``, both on the session it evaluates and commits on. Locks vanish with the
session: a process that dies, or whose connection breaks, owns nothing any more, and the others
take its partitions over at their next round (catching up from the partitions' saved cursors and
states). Each round, a process looks at the locks in ``pg_locks`` and follows
``plan_ownership``: about ``ceil(partitions / live processes)`` each.

``alert_evaluators`` records the processes for people and ``/healthz``; liveness is the lock.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import psycopg

from alerts.partitions import MEMBER_LOCK_KEY, PARTITION_LOCK_KEY, plan_ownership

logger = logging.getLogger(__name__)

# A partition nobody held for this long is taken by whoever sees it, beyond its share: a process
# below its share normally takes it within a round.
OVERDUE_ROUNDS: Final = 3
# Rows of processes gone this long are removed from alert_evaluators.
FORGET_AFTER_S: Final = 300

_LOCKS_SQL: Final = (
    "SELECT classid::bigint, objid::bigint, pid FROM pg_locks"
    " WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND classid IN (%s::oid, %s::oid)"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


@dataclass(frozen=True, slots=True)
class Survey:
    holders: dict[int, int]  # partition -> pid holding it
    members: dict[int, int]  # live process pid -> partitions it holds


class Ownership:
    def __init__(self, count: int, role: str, *, round_s: float) -> None:
        self.count = count
        self.role = role
        self.round_s = round_s
        self.member: int | None = None
        self.owned: set[int] = set()
        self._free_since: dict[int, float] = {}
        self._pid: int | None = None

    def join(self, conn: psycopg.Connection) -> int:
        """Take a member lock of our own on this session; register the process."""
        rng = random.SystemRandom()
        while True:
            member = rng.randrange(1, 2**31 - 1)
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (MEMBER_LOCK_KEY, member)).fetchone()
            if row and row[0]:
                break
        self.member, self.owned = member, set()
        self._free_since.clear()
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        self._pid = int(row[0])
        conn.execute(
            "INSERT INTO alert_evaluators (member, host, pid, role) VALUES (%s, %s, %s, %s)",
            (member, socket.gethostname(), os.getpid(), self.role),
        )
        return member

    def leave(self) -> None:
        """The session is gone (or about to be): so are its locks."""
        self.member, self.owned, self._pid = None, set(), None

    def survey(self, conn: psycopg.Connection) -> Survey:
        holders: dict[int, int] = {}
        members: dict[int, int] = {}
        for key, obj, pid in conn.execute(_LOCKS_SQL, (PARTITION_LOCK_KEY, MEMBER_LOCK_KEY)).fetchall():
            if key == PARTITION_LOCK_KEY:
                holders[int(obj)] = int(pid)
            else:
                members.setdefault(int(pid), 0)
        for pid in holders.values():
            if pid in members:
                members[pid] += 1
        return Survey(holders, members)

    def plan(self, survey: Survey) -> tuple[list[int], list[int]]:
        assert self._pid is not None, "join first"
        now = time.monotonic()
        free = {p for p in range(self.count) if p not in survey.holders}
        self._free_since = {p: self._free_since.get(p, now) for p in free}
        overdue = {p for p, since in self._free_since.items() if now - since >= OVERDUE_ROUNDS * self.round_s}
        members = dict(survey.members)
        members.setdefault(self._pid, len(self.owned))
        return plan_ownership(self.count, self._pid, self.owned, survey.holders, members, overdue)

    def take(self, conn: psycopg.Connection, parts: Iterable[int]) -> list[int]:
        """Lock what is still free; the partitions now ours."""
        got = []
        for part in parts:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (PARTITION_LOCK_KEY, part)).fetchone()
            if row and row[0]:
                got.append(part)
                self.owned.add(part)
        return got

    def release(self, conn: psycopg.Connection, parts: Iterable[int]) -> None:
        """Let go (after saving their state): another process takes them at its next round."""
        for part in parts:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (PARTITION_LOCK_KEY, part))
            self.owned.discard(part)

    def heartbeat(self, conn: psycopg.Connection, evaluated: int) -> None:
        conn.execute(
            "UPDATE alert_evaluators SET seen_at = now(), partitions = %s, evaluated = %s WHERE member = %s",
            (sorted(self.owned), evaluated, self.member),
        )
        conn.execute(
            "DELETE FROM alert_evaluators WHERE seen_at < now() - make_interval(secs => %s)", (FORGET_AFTER_S,)
        )
