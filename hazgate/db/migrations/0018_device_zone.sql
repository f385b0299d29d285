-- Where a fixed device (a gas detector, a tank farm's sensor) is installed: a zone of the park
-- layout (issue 13). An alert of such a device is about that zone: the response card is centred
-- on it and lists what it stores; the park map colours it. Not a foreign key: layouts are
-- versioned, and a zone id that a new version drops is reported, not refused.
ALTER TABLE devices ADD COLUMN zone_id text CHECK (zone_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$');
