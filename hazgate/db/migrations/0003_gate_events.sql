-- Gate events as they arrive from gate devices, once each (QoS-1 redelivery repeats event_id).
CREATE TABLE gate_events (
    event_id    uuid PRIMARY KEY,
    site        text NOT NULL,
    gate_id     text NOT NULL,
    device_id   text NOT NULL REFERENCES devices (device_id),
    type        text NOT NULL,
    ts          timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    body        jsonb NOT NULL      -- the event minus its image bytes (kept apart, see biometric retention)
);
CREATE INDEX gate_events_gate_ts ON gate_events (site, gate_id, ts DESC);
