"""Retention where the TimescaleDB edition has no policies (the Apache-2 edition).

The community edition gets `add_retention_policy` from migration 0002; on the Apache edition
this job drops whole chunks older than the retention period, which is what the policy would do.
"""

from __future__ import annotations

import logging
import threading

import psycopg

logger = logging.getLogger(__name__)

# Hourly is plenty: chunks are a day wide, so nothing becomes droppable faster than that.
RETENTION_INTERVAL_S = 3600.0


def edition(conn: psycopg.Connection) -> str | None:
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return row[0] if row else None


def drop_old_chunks(conn: psycopg.Connection, retention_days: int) -> list[str]:
    """Drop telemetry chunks entirely older than the retention period; returns their names."""
    rows = conn.execute(
        "SELECT drop_chunks('telemetry', older_than => now() - make_interval(days => %s))", (retention_days,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def purge_gate_images(conn: psycopg.Connection, days: int) -> int:
    """Biometric images captured at the gate are kept `days` only; encodings and distances stay."""
    cur = conn.execute("DELETE FROM gate_images WHERE captured_at < now() - make_interval(days => %s)", (days,))
    if cur.rowcount:
        logger.info("retention: deleted %d gate images older than %d days", cur.rowcount, days)
    return cur.rowcount


def purge_alert_inputs(conn: psycopg.Connection, days: int) -> int:
    """Engine inputs other than readings are kept as long as readings (evaluated long before)."""
    cur = conn.execute("DELETE FROM alert_inputs WHERE stored_at < now() - make_interval(days => %s)", (days,))
    if cur.rowcount:
        logger.info("retention: deleted %d alert inputs older than %d days", cur.rowcount, days)
    return cur.rowcount


class RetentionJob:
    def __init__(
        self,
        conninfo: str,
        retention_days: int,
        interval_s: float = RETENTION_INTERVAL_S,
        *,
        image_retention_days: int | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.retention_days = retention_days
        self.image_retention_days = image_retention_days
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hazgate-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def run_once(self) -> list[str]:
        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
            if self.image_retention_days is not None:
                purge_gate_images(conn, self.image_retention_days)
            purge_alert_inputs(conn, self.retention_days)
            if edition(conn) == "timescale":
                return []  # the database's own retention policy does it
            dropped = drop_old_chunks(conn, self.retention_days)
        if dropped:
            logger.info("retention: dropped %d telemetry chunks older than %d days", len(dropped), self.retention_days)
        return dropped

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except psycopg.Error as exc:
                logger.warning("retention job failed, will retry in %.0f s: %s", self.interval_s, exc)
            self._stop.wait(self.interval_s)
