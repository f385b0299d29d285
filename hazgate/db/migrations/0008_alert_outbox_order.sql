-- Notifications of one alert reach each subscriber in the order they were queued: a worker
-- does not send a later row (resolved) while an earlier one (firing) of the same alert and
-- subscription is undelivered. This index answers that check.
CREATE INDEX alert_outbox_pending_per_alert ON alert_outbox (alert_id, subscription_id, id)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
