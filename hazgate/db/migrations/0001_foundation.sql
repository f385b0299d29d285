-- Foundation: TimescaleDB, the device registry, telemetry and the record of refused input.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE devices (
    device_id          text PRIMARY KEY CHECK (device_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    site               text NOT NULL CHECK (site ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    type               text NOT NULL,
    gate_id            text CHECK (gate_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    mqtt_password_hash text NOT NULL,
    enabled            boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- Status: from the retained status topic / last will, and from the last reading.
    state              text NOT NULL DEFAULT 'unknown' CHECK (state IN ('unknown', 'online', 'offline')),
    state_changed_at   timestamptz,
    last_seen_at       timestamptz
);

-- One row per reading: the metrics of a reading stay together, as the device sent them.
-- (device_id, seq) identifies a reading; a hypertable's unique index must contain the time
-- column, and a QoS-1 redelivery repeats ts exactly, so (device_id, ts, seq) catches it. In
-- that order the same index also serves "one device over a time range", so no second index
-- has to be maintained on every insert.
CREATE TABLE telemetry (
    ts          timestamptz NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    site        text NOT NULL,
    "values"    jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('telemetry', by_range('ts', INTERVAL '1 day'));
CREATE UNIQUE INDEX telemetry_reading_uq ON telemetry (device_id, ts, seq);

-- Every refused input, with its reason: nothing is dropped silently.
CREATE TABLE rejected (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    source      text NOT NULL,           -- mqtt, api, import, broker
    topic       text,
    device_id   text,
    reason      text NOT NULL,           -- machine-readable code
    detail      text NOT NULL,           -- what exactly was wrong, for a person
    payload_excerpt text,
    payload_bytes integer
);
CREATE INDEX rejected_received_at ON rejected (received_at DESC);
CREATE INDEX rejected_reason ON rejected (reason, received_at DESC);
