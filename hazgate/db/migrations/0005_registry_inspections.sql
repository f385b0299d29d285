-- The gate's registries, the inspections it records, and the biometric images it keeps.
-- Registry rows keep the validated record as JSON (registry/models.py is its one definition)
-- beside the columns we look rows up by.
CREATE TABLE carriers (
    id         text PRIMARY KEY,
    record     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vehicles (
    plate      text PRIMARY KEY,
    carrier_id text NOT NULL REFERENCES carriers (id),
    record     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE personnel (
    id_number      text PRIMARY KEY,
    record         jsonb NOT NULL,
    -- The enrolled photo (registry data, needed to match) and its 128-d face encoding.
    photo          bytea,
    face_encoding  float8[],
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE waybills (
    waybill_no text PRIMARY KEY,
    plate      text NOT NULL,
    record     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX waybills_plate ON waybills (plate);

-- Devices mounted on a vehicle (its tank sensor, its GPS tracker): the gate's vehicle-status
-- check looks at their alerts and last report.
ALTER TABLE devices ADD COLUMN plate text;
CREATE INDEX devices_plate ON devices (plate) WHERE plate IS NOT NULL;

CREATE TABLE inspections (
    id            uuid PRIMARY KEY,
    site          text NOT NULL,
    gate_id       text NOT NULL,
    plate         text,
    opened_at     timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    decided_at    timestamptz,           -- first pass/fail/review
    closed_at     timestamptz,
    close_reason  text,                  -- new_plate, timeout
    result        text NOT NULL CHECK (result IN ('pass', 'fail', 'review', 'pending')),
    checks        jsonb NOT NULL,        -- every check: status, reasons, evidence
    missing       jsonb NOT NULL,        -- inputs still missing
    inputs        jsonb NOT NULL,        -- what arrived (no image bytes), with event ids and times
    latency_ms    double precision,      -- last input event received -> decision published
    timings       jsonb NOT NULL DEFAULT '{}',
    override_result text CHECK (override_result IN ('pass', 'fail')),
    override_by     text,
    override_reason text,
    override_at     timestamptz
);
CREATE INDEX inspections_gate_time ON inspections (site, gate_id, opened_at DESC);
CREATE INDEX inspections_plate ON inspections (plate, opened_at DESC);

-- Who did what to an inspection, kept as long as the inspection.
CREATE TABLE inspection_audit (
    id            bigserial PRIMARY KEY,
    inspection_id uuid NOT NULL REFERENCES inspections (id),
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    action        text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}'
);

-- Face and ID-card images captured at the gate: biometric data, deleted after the configured
-- retention (HAZGATE_GATE__IMAGE_RETENTION_DAYS, default 30). Encodings and distances stay in
-- the inspection's evidence.
CREATE TABLE gate_images (
    event_id      uuid PRIMARY KEY,
    inspection_id uuid,                   -- set once the visit's inspection is stored
    kind          text NOT NULL,          -- id_card, face, plate
    role          text,
    image         bytea NOT NULL,
    captured_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gate_images_captured ON gate_images (captured_at);
