-- Emergency response and risk index (issue 13): the park's substance catalogue, what each zone
-- stores, and the black and watch lists of vehicles, people and carriers with their audit.

-- The park's own catalogue (emergency/park.py, `hazgate substances import`): it overrides and
-- extends the shipped ERG 2016 and UN tables (Chinese names, a guide for unmapped substances).
CREATE TABLE park_substances (
    un           text PRIMARY KEY CHECK (un ~ '^UN[0-9]{4}$'),
    name_zh      text,
    name_en      text,
    hazard_class text,
    erg_guide    integer CHECK (erg_guide BETWEEN 111 AND 174),
    notes        text,
    updated_by   text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Which zone of a site stores which substance. Zone ids are those of the park layout
-- (`hazgate park import`); no foreign key, so the catalogue can come before the layout.
CREATE TABLE zone_substances (
    site            text NOT NULL,
    zone_id         text NOT NULL,
    un              text NOT NULL REFERENCES park_substances (un),
    max_quantity_kg double precision CHECK (max_quantity_kg > 0),
    PRIMARY KEY (site, zone_id, un)
);
CREATE INDEX zone_substances_un ON zone_substances (un);

-- Black list (fails bookings and entry, reason code `blacklisted`) and watch list (flagged for
-- officers) in one table: registry/blacklist.py. A listing is in force from created_at until
-- `until`, unless removed earlier. Rows are never deleted: a removal is recorded on the row.
CREATE TABLE subject_listings (
    id            uuid PRIMARY KEY,
    list          text NOT NULL CHECK (list IN ('black', 'watch')),
    subject_kind  text NOT NULL CHECK (subject_kind IN ('vehicle', 'person', 'carrier')),
    subject_id    text NOT NULL,
    reason        text NOT NULL,
    until         timestamptz NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    removed_by    text,
    removed_at    timestamptz,
    remove_reason text,
    CHECK (until > created_at)
);
CREATE INDEX subject_listings_subject ON subject_listings (subject_kind, subject_id, until) WHERE removed_at IS NULL;

-- Every change to a listing: added, removed, and its expiry (recorded once, at `until`, the
-- first time the lists are read after it).
CREATE TABLE subject_listing_audit (
    id         bigserial PRIMARY KEY,
    listing_id uuid NOT NULL REFERENCES subject_listings (id),
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL CHECK (action IN ('added', 'removed', 'expired')),
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX subject_listing_audit_expired_once ON subject_listing_audit (listing_id) WHERE action = 'expired';
CREATE INDEX subject_listing_audit_listing ON subject_listing_audit (listing_id, at);
