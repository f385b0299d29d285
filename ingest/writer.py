"""Batched writes of readings, device status and refusals, in one transaction per batch.

A batch is written with COPY into a temporary table and moved into the hypertable with
``ON CONFLICT DO NOTHING``, so a redelivered reading is a no-op. The caller acknowledges the
batch's messages to the broker only after ``flush`` returns: a crash before the commit means the
broker redelivers, a crash after it means the redelivery is ignored. Nothing is lost, nothing is
stored twice.

The same transaction records each device status as an alert input and notifies the evaluators
(alerts/inputs.py): alert evaluation reads the stored stream, whoever stored it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from alerts.events import DeviceStatus
from alerts.inputs import notify_stored, record
from gateway.validate import Rejection, RejectReason, Row

logger = logging.getLogger(__name__)

STAGING_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS telemetry_staging"
    ' (ts timestamptz, device_id text, seq bigint, site text, "values" jsonb, received_at timestamptz)'
    " ON COMMIT DELETE ROWS"
)


@dataclass(slots=True)
class Batch:
    rows: list[Row] = field(default_factory=list)
    statuses: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    mids: list[tuple[int, int]] = field(default_factory=list)  # (mid, qos) to acknowledge

    def __len__(self) -> int:
        return len(self.rows) + len(self.statuses) + len(self.rejections)

    def clear(self) -> None:
        self.rows.clear()
        self.statuses.clear()
        self.rejections.clear()
        self.mids.clear()


@dataclass(frozen=True, slots=True)
class FlushResult:
    inserted: int
    duplicates: int
    rejected: int


class TelemetryWriter:
    """Owns one connection; used from one thread."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, connect_timeout=5)
            self._conn.execute(STAGING_DDL)
            self._conn.commit()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def flush(self, batch: Batch) -> FlushResult:
        """Write the batch in one transaction. Raises psycopg.Error; the batch is then intact.

        A batch the database refuses for its content (not for being unreachable) would be
        refused forever; its rows are then tried one by one and the refused ones recorded.
        """
        try:
            return self._flush(batch)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            logger.warning("the database refused a batch (%s); storing it row by row", exc)
            self._isolate_refused_rows(batch)
            return self._flush(batch)

    def _isolate_refused_rows(self, batch: Batch) -> None:
        conn = self._connection()
        good: list[Row] = []
        with conn.transaction(force_rollback=True):
            for row in batch.rows:
                try:
                    with conn.transaction(), conn.cursor() as cur:
                        _copy(cur, "telemetry_staging", [row])
                    good.append(row)
                except (psycopg.DataError, psycopg.IntegrityError) as exc:
                    batch.rejections.append(
                        Rejection(
                            RejectReason.STORAGE_REFUSED,
                            f"seq {row.seq}: the database refused it: {exc}",
                            "",
                            row.device_id,
                            _copy_line(row, "")[:512],
                            0,
                        )
                    )
        batch.rows[:] = good

    def _flush(self, batch: Batch) -> FlushResult:
        conn = self._connection()
        try:
            with conn.transaction():
                inserted = self._write_rows(conn, batch.rows)
                self._write_last_seen(conn, batch.rows)
                self._write_statuses(conn, batch.statuses)
                write_rejections(conn, batch.rejections)
                if batch.rows or batch.statuses:
                    notify_stored(conn)
        except psycopg.Error:
            # A broken connection is replaced on the next attempt.
            if conn.broken or conn.closed:
                self._conn = None
            raise
        return FlushResult(inserted, len(batch.rows) - inserted, len(batch.rejections))

    @staticmethod
    def _write_rows(conn: psycopg.Connection, rows: list[Row]) -> int:
        """COPY straight into the hypertable; only if that meets a stored reading (a redelivery),
        roll back to the savepoint and go through the staging table with ON CONFLICT DO NOTHING."""
        if not rows:
            return 0
        try:
            with conn.transaction(), conn.cursor() as cur:
                _copy(cur, "telemetry", rows)
            return len(rows)
        except psycopg.errors.UniqueViolation:
            pass
        with conn.cursor() as cur:
            _copy(cur, "telemetry_staging", rows)
            cur.execute(
                'INSERT INTO telemetry (ts, device_id, seq, site, "values", received_at)'
                ' SELECT ts, device_id, seq, site, "values", received_at FROM telemetry_staging'
                " ON CONFLICT DO NOTHING"
            )
            inserted = cur.rowcount
            cur.execute("TRUNCATE telemetry_staging")
        return inserted

    @staticmethod
    def _write_last_seen(conn: psycopg.Connection, rows: list[Row]) -> None:
        last: dict[str, datetime] = {}
        for r in rows:
            last[r.device_id] = max(last.get(r.device_id, r.ts), r.ts)
        if last:
            conn.execute(
                "UPDATE devices d SET last_seen_at = GREATEST(d.last_seen_at, v.ts)"
                " FROM unnest(%s::text[], %s::timestamptz[]) AS v(device_id, ts) WHERE d.device_id = v.device_id",
                (list(last), list(last.values())),
            )

    @staticmethod
    def _write_statuses(conn: psycopg.Connection, statuses: dict[str, tuple[str, datetime]]) -> None:
        if not statuses:
            return
        for device_id, (state, at) in statuses.items():
            conn.execute(
                "UPDATE devices SET state = %s, state_changed_at = %s WHERE device_id = %s AND state <> %s",
                (state, at, device_id, state),
            )
        # Every status message is an input of absence rules (the last will fires at once), as
        # the device's site and type say now.
        known = conn.execute(
            "SELECT device_id, site, type FROM devices WHERE device_id = ANY(%s)", (list(statuses),)
        ).fetchall()
        record(
            conn,
            *(
                DeviceStatus(
                    device_id,
                    site,
                    "online" if statuses[device_id][0] == "online" else "offline",
                    statuses[device_id][1],
                    device_type,
                )
                for device_id, site, device_type in known
                if statuses[device_id][0] in ("online", "offline")
            ),
        )


def write_rejections(conn: psycopg.Connection, rejections: list[Rejection]) -> None:
    if not rejections:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO rejected (source, topic, device_id, reason, detail, payload_excerpt, payload_bytes)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (r.source, r.topic, r.device_id, r.reason.value, r.detail, r.payload_excerpt, r.payload_bytes)
                for r in rejections
            ],
        )


def utcnow() -> datetime:
    return datetime.now(UTC)


def _copy(cur: psycopg.Cursor[tuple[object, ...]], table: str, rows: list[Row]) -> None:
    # received_at is the moment the rows are written, just before the commit that shows them.
    written_at = datetime.now(UTC).isoformat()
    with cur.copy(f'COPY {table} (ts, device_id, seq, site, "values", received_at) FROM STDIN') as copy:
        copy.write("".join(_copy_line(r, written_at) for r in rows))


def _copy_line(r: Row, written_at: str) -> str:
    """One line of COPY text, formatted by hand: the hot path of ingest (3x faster than
    write_row + json.dumps). Safe without escaping because every part is validated before it
    gets here: ids and sites match NAME_RE, metric names come from the catalogue, values are
    finite numbers inside their range, and none of them can hold a tab, newline or backslash."""
    values = ",".join(f'"{k}":{v!r}' for k, v in r.values.items())
    return f"{r.ts_text}\t{r.device_id}\t{r.seq}\t{r.site}\t{{{values}}}\t{written_at}\n"
