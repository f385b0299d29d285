-- Alerting (issue 5): rules, subscriptions and silences as data; alerts with their history; the
-- evaluation state; and an outbox of notifications written in the same transaction as the
-- alert change that caused them. See docs/alerts.md ("Adapters").

-- Rules: the validated JSON body of POST /api/v1/rules (alerts.models). Deleting keeps the row
-- (who deleted it, when) so alerts can still be traced to the rule that raised them.
CREATE TABLE alert_rules (
    id          uuid PRIMARY KEY,
    body        jsonb NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_by  text,
    deleted_at  timestamptz
);

-- Subscriptions: body without the secret. The webhook secret must be readable to sign every
-- request, so it is stored as given (like the broker's own credentials) and never returned.
-- tier 0 is the default route; tier n >= 1 receives escalation n of alerts its filters accept.
CREATE TABLE alert_subscriptions (
    id          uuid PRIMARY KEY,
    owner_id    bigint NOT NULL REFERENCES users (id),
    channel     text NOT NULL CHECK (channel IN ('webhook', 'mqtt', 'email', 'stream')),
    body        jsonb NOT NULL,
    secret      text,
    tier        integer NOT NULL DEFAULT 0 CHECK (tier >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX alert_subscriptions_owner ON alert_subscriptions (owner_id) WHERE deleted_at IS NULL;

-- Silences (maintenance windows): matching alerts are recorded, their notifications held back.
CREATE TABLE alert_silences (
    id          uuid PRIMARY KEY,
    site        text,
    device_id   text,
    rule_id     text,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (site IS NOT NULL OR device_id IS NOT NULL OR rule_id IS NOT NULL)
);
CREATE INDEX alert_silences_ends ON alert_silences (ends_at);

-- Alerts. `doc` is the whole alerts.lifecycle.Alert (history included); the columns beside it
-- mirror what the API filters and sorts on. One open alert per fingerprint (rule + subject).
-- `settled`: nothing more can become due for it (resolved, and its last notification queued or
-- never owed); the timer only looks at alerts that are not settled.
CREATE TABLE alerts (
    id              uuid PRIMARY KEY,
    fingerprint     text NOT NULL,
    rule_id         text NOT NULL,
    state           text NOT NULL CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    severity        text NOT NULL,
    site            text,
    device_id       text,
    metric          text,
    value           double precision,
    count           integer NOT NULL,
    started_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    acknowledged_by text,
    acknowledged_at timestamptz,
    resolved_by     text,
    resolved_at     timestamptz,
    settled         boolean NOT NULL DEFAULT false,
    doc             jsonb NOT NULL
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (fingerprint) WHERE state <> 'resolved';
CREATE INDEX alerts_state_updated ON alerts (state, updated_at DESC);
CREATE INDEX alerts_unsettled ON alerts (started_at) WHERE NOT settled;

-- The engine's evaluation state (alerts.state.EngineState) and, per device, the newest reading
-- evaluated: saved with every alert change it produced, and as a checkpoint in between.
-- resume_from: every reading stored before it has been evaluated; after a crash the service
-- replays telemetry received since then (minus a margin), skipping what the watermarks cover.
CREATE TABLE alert_engine_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    state       jsonb NOT NULL,
    watermarks  jsonb NOT NULL DEFAULT '{}',
    resume_from timestamptz NOT NULL,
    saved_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per notification (alerts.lifecycle.Notification.delivery_key): what has been queued
-- and when, the `already_sent` of due_notifications.
CREATE TABLE alert_notifications (
    delivery_key text PRIMARY KEY,
    alert_id     uuid NOT NULL REFERENCES alerts (id),
    kind         text NOT NULL,
    queued_at    timestamptz NOT NULL
);
CREATE INDEX alert_notifications_alert ON alert_notifications (alert_id);

-- The outbox: one row per notification and subscription, written in the transaction that
-- changed the alert. `payload` is the exact signed body; `delivery_id` is X-Hazgate-Delivery.
-- A worker claims a row by pushing next_attempt_at past its send timeout (a lease): a worker
-- that dies mid-send leaves the row due again once the lease runs out.
CREATE TABLE alert_outbox (
    id              bigserial PRIMARY KEY,
    delivery_id     uuid NOT NULL UNIQUE,
    delivery_key    text NOT NULL,
    subscription_id uuid NOT NULL REFERENCES alert_subscriptions (id),
    alert_id        uuid NOT NULL REFERENCES alerts (id),
    channel         text NOT NULL,
    payload         bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    delivered_at    timestamptz,
    gave_up_at      timestamptz,
    last_error      text,
    UNIQUE (delivery_key, subscription_id)
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- Every change to rules, subscriptions or silences bumps one counter and wakes the alert
-- service (LISTEN hazgate_alerts): a rule created through the API takes effect without restart.
CREATE TABLE alert_config_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
INSERT INTO alert_config_version (id, version) VALUES (true, 0);

CREATE FUNCTION alert_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE alert_config_version SET version = version + 1;
    PERFORM pg_notify('hazgate_alerts', 'config');
    RETURN NULL;
END
$$;

CREATE TRIGGER alert_rules_changed AFTER INSERT OR UPDATE OR DELETE ON alert_rules
    FOR EACH STATEMENT EXECUTE FUNCTION alert_config_changed();
CREATE TRIGGER alert_subscriptions_changed AFTER INSERT OR UPDATE OR DELETE ON alert_subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION alert_config_changed();
CREATE TRIGGER alert_silences_changed AFTER INSERT OR UPDATE OR DELETE ON alert_silences
    FOR EACH STATEMENT EXECUTE FUNCTION alert_config_changed();
