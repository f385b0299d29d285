-- The tanker's whole stay (issue 11): gates with a direction, site settings, waiting lots,
-- bookings (预约入园), and visits from the waiting lot to the exit with their timeline.

-- A gate not listed here is an entry gate (the default of `hazgate gates set`).
CREATE TABLE gates (
    site       text NOT NULL,
    gate_id    text NOT NULL,
    direction  text NOT NULL DEFAULT 'entry' CHECK (direction IN ('entry', 'exit', 'both')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, gate_id)
);

-- Per-site rules of the stay; a site not listed has the defaults.
CREATE TABLE site_settings (
    site              text PRIMARY KEY,
    bookings_required boolean NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The hazmat waiting lots (停车场). A plate camera registered with `--gate LOT_ID` of a lot
-- queues the tankers it reads; lot_id is the layout's `parking` zone where there is a layout.
CREATE TABLE waiting_lots (
    site       text NOT NULL,
    lot_id     text NOT NULL,
    capacity   integer NOT NULL CHECK (capacity > 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, lot_id)
);

ALTER TABLE inspections ADD COLUMN direction text NOT NULL DEFAULT 'entry' CHECK (direction IN ('entry', 'exit'));

CREATE TABLE bookings (
    id          uuid PRIMARY KEY,
    site        text NOT NULL,
    plate       text NOT NULL,
    waybill_no  text NOT NULL,
    driver_id   text,                    -- the crew the booking names (else the waybill's)
    escort_id   text,
    slot_start  timestamptz NOT NULL,
    slot_end    timestamptz NOT NULL CHECK (slot_end > slot_start),
    enterprise  text,                    -- the receiving or loading enterprise
    state       text NOT NULL CHECK (state IN
                    ('requested', 'approved', 'refused', 'arrived', 'used', 'expired', 'cancelled')),
    precheck    jsonb NOT NULL,          -- {"result", "checks": [...]} at booking time
    reason      text,                    -- why refused or cancelled
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bookings_plate ON bookings (site, plate, slot_start);
CREATE INDEX bookings_open ON bookings (slot_end) WHERE state IN ('requested', 'approved');

-- Who changed a booking, when, from what to what and why.
CREATE TABLE booking_audit (
    id         bigserial PRIMARY KEY,
    booking_id uuid NOT NULL REFERENCES bookings (id),
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'
);

-- One row per stay: queued at the lot (or straight at the gate), inside, closed.
CREATE TABLE visits (
    id                  uuid PRIMARY KEY,
    site                text NOT NULL,
    plate               text NOT NULL,
    state               text NOT NULL CHECK (state IN ('queued', 'inside', 'closed')),
    booking_id          uuid REFERENCES bookings (id),
    lot_id              text,
    queued_at           timestamptz,
    called_at           timestamptz,
    called_gate         text,
    entry_inspection_id uuid,
    exit_inspection_id  uuid,
    entered_at          timestamptz,
    exited_at           timestamptz,
    closed_at           timestamptz,
    close_reason        text,            -- exit, officer, refused_at_gate
    closed_by           text,
    waybill_no          text,
    waybill_closed_at   timestamptz,     -- the loading or unloading was confirmed
    tracker_device_id   text REFERENCES devices (device_id),  -- one handed out at the gate
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX visits_one_open_per_plate ON visits (site, plate) WHERE state <> 'closed';
CREATE INDEX visits_site_state ON visits (site, state, created_at DESC);
CREATE INDEX visits_queue ON visits (site, lot_id, queued_at) WHERE state = 'queued';

CREATE TABLE visit_timeline (
    id       bigserial PRIMARY KEY,
    visit_id uuid NOT NULL REFERENCES visits (id),
    ts       timestamptz NOT NULL,
    kind     text NOT NULL,
    detail   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX visit_timeline_visit ON visit_timeline (visit_id, ts, id);
