-- Alert evaluation reads the stored stream (issue 10): every stored reading and every other input
-- of the engine is evaluated exactly once, by whichever evaluator process owns its partition.
-- See docs/alerts.md ("The stored stream").

-- Partitions: a device id or a plate belongs to partition alert_partition(key). The count is
-- fixed here, once, for every process (they read it with alert_partition_count()); changing it
-- means re-partitioning the saved evaluation states, which no code does.
CREATE FUNCTION alert_partition_count() RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT 32 $$;
-- The first 32 bits of the key's MD5, modulo the count: stable across PostgreSQL versions (unlike
-- hashtext) and the same in Python (alerts.partitions.partition_of).
CREATE FUNCTION alert_partition(key text) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ((('x' || substr(md5(key), 1, 8))::bit(32)::bigint) % alert_partition_count())::smallint $$;

-- The transaction that stored each reading. A constant default first, so existing rows (all
-- evaluated, or never to be) read as 0 without rewriting the hypertable; new rows get their
-- writer's transaction id. The partition is not stored with the reading: a generated column
-- would rewrite every chunk under an exclusive lock (3 s per 200,000 rows measured) and cost an
-- MD5 per row; it is the device's, joined in when evaluators read.
ALTER TABLE telemetry ADD COLUMN txid xid8 NOT NULL DEFAULT '0';
ALTER TABLE telemetry ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
CREATE INDEX telemetry_txid ON telemetry (txid);
ALTER TABLE devices ADD COLUMN part smallint NOT NULL GENERATED ALWAYS AS (alert_partition(device_id)) STORED;

-- The engine's inputs that are not readings (device status changes, failed inspections, vehicles
-- entering and leaving; later visits and JT/T 808 alarms), written by their producer in its own
-- transaction through alerts.inputs.record. `key` is the subject: a device id or a plate.
CREATE TABLE alert_inputs (
    id       bigserial PRIMARY KEY,
    txid     xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind     text NOT NULL,
    key      text NOT NULL,
    part     smallint NOT NULL GENERATED ALWAYS AS (alert_partition(key)) STORED,
    ts       timestamptz NOT NULL,
    body     jsonb NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_inputs_txid ON alert_inputs (txid);
CREATE INDEX alert_inputs_stored_at ON alert_inputs (stored_at);

-- One row per partition: where its evaluation stands. `cursor`: every input of the partition
-- stored by a transaction below it has been evaluated into `state`; both are saved together,
-- with the alert changes they caused. `watermarks`: per device, the time stamp of the newest
-- reading evaluated; an older one stored later (a device's messages taken by two gateways and
-- committed out of order) is skipped, as a late reading is. `version` moves with every save (a
-- compare-and-set: a process that lost the partition cannot save over its new owner).
-- `evaluated_until`: the stored stream was complete up to about this time at the cursor.
CREATE TABLE alert_partitions (
    part            smallint PRIMARY KEY,
    cursor          xid8 NOT NULL,
    state           jsonb NOT NULL,
    watermarks      jsonb NOT NULL DEFAULT '{}',
    version         bigint NOT NULL DEFAULT 0,
    saved_at        timestamptz NOT NULL DEFAULT now(),
    evaluated_until timestamptz NOT NULL DEFAULT now()
);

-- Start every partition at this migration's transaction: what was stored before is history
-- (the previous evaluator saw it). The previous single evaluation state is split by subject.
INSERT INTO alert_partitions (part, cursor, state)
SELECT p, pg_current_xact_id(), jsonb_build_object('version', 1, 'rules', coalesce((
    SELECT jsonb_object_agg(r.key, r.value || jsonb_build_object('subjects', s.subjects))
    FROM alert_engine_state e, jsonb_each(e.state -> 'rules') AS r,
    LATERAL (
        SELECT jsonb_object_agg(x.key, x.value) AS subjects
        FROM jsonb_each(coalesce(r.value -> 'subjects', '{}')) AS x
        WHERE alert_partition(x.key) = p
    ) AS s
    WHERE s.subjects IS NOT NULL
), '{}'::jsonb))
FROM generate_series(0, alert_partition_count() - 1) AS p;

DROP TABLE alert_engine_state;

-- An alert belongs to the partition of its subject: the owner of that partition ticks it.
ALTER TABLE alerts ADD COLUMN part smallint GENERATED ALWAYS AS (alert_partition(doc ->> 'subject')) STORED;
CREATE INDEX alerts_unsettled_part ON alerts (part, started_at) WHERE NOT settled;

-- Evaluator processes, for people and /healthz: who runs, since when, which partitions. Whether
-- a process is alive is told by its session advisory lock, not by this table.
CREATE TABLE alert_evaluators (
    member      integer PRIMARY KEY,
    host        text NOT NULL,
    pid         integer NOT NULL,
    role        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now(),
    partitions  smallint[] NOT NULL DEFAULT '{}',
    evaluated   bigint NOT NULL DEFAULT 0
);
