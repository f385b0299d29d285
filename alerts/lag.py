"""What holds evaluation back (adapter): the oldest transaction still running in the cluster.

Evaluators read the stored stream only below ``pg_snapshot_xmin``: a transaction that holds a
transaction id (it wrote something) and stays open, in any database of the cluster, keeps every
row stored after it began out of evaluation until it ends. :data:`BLOCKER_SQL` names it; the
evaluator logs it when the lag passes ``alerts.lag_warn_s`` and ``/healthz`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg

# Sessions of other roles show no details unless hazgate's role has pg_read_all_stats.
BLOCKER_SQL: Final = (
    "SELECT pid, datname, usename, application_name, state, xact_start, now() - xact_start, left(query, 200)"
    " FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
    " ORDER BY age(backend_xid) DESC LIMIT 1"
)


@dataclass(frozen=True, slots=True)
class Blocker:
    pid: int
    database: str | None
    user: str | None
    application: str | None
    state: str | None
    since: datetime | None
    open_s: float | None
    query: str | None

    def describe(self) -> str:
        since = self.since.isoformat(timespec="seconds") if self.since else "an unknown time"
        return (
            f"pid {self.pid} (database {self.database!r}, user {self.user!r}, application {self.application!r},"
            f" state {self.state!r}), in a transaction since {since}, last query: {self.query!r}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "database": self.database,
            "user": self.user,
            "application": self.application,
            "state": self.state,
            "since": self.since.isoformat() if self.since else None,
            "open_s": round(self.open_s, 1) if self.open_s is not None else None,
            "query": self.query,
        }


def blocker_from_row(row: tuple[Any, ...] | None) -> Blocker | None:
    if row is None:
        return None
    pid, database, user, application, state, since, open_for, query = row
    open_s = open_for.total_seconds() if open_for is not None else None
    return Blocker(int(pid), database, user, application, state, since, open_s, query)


def find_blocker(conn: psycopg.Connection) -> Blocker | None:
    return blocker_from_row(conn.execute(BLOCKER_SQL).fetchone())


# For /healthz, from any process: live evaluator processes, partitions without an owner, how far
# behind the least advanced partition's saved cursor is, and how long the stream is held back.
EVALUATION_HEALTH_SQL: Final = (
    "WITH locks AS (SELECT classid::bigint AS key FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
    " AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
    " SELECT (SELECT count(*) FROM locks WHERE key = %(member)s),"
    " alert_partition_count(),"
    " alert_partition_count() - (SELECT count(*) FROM locks WHERE key = %(part)s),"
    " (SELECT extract(epoch FROM now() - min(evaluated_until)) FROM alert_partitions),"
    " (SELECT extract(epoch FROM now() - min(xact_start)) FROM pg_stat_activity"
    "  WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid())"
)


def evaluation_health(row: tuple[Any, ...], blocker: Blocker | None) -> dict[str, Any]:
    evaluators, partitions, unowned, behind_s, lag_s = row
    return {
        "evaluators": int(evaluators),
        "partitions": int(partitions),
        "unowned_partitions": int(unowned),
        "evaluated_behind_s": round(float(behind_s), 1) if behind_s is not None else None,
        "stream_lag_s": round(float(lag_s), 1) if lag_s is not None else 0.0,
        "blocker": blocker.as_dict() if blocker else None,
    }
