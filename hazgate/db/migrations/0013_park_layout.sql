-- Park layouts (issue 11): zones drawn in GeoJSON. Every import of a site's layout is a new
-- version; older versions are kept (what an alert of last month was judged against). The
-- current layout of a site is its highest version.
CREATE TABLE park_layouts (
    site           text NOT NULL CHECK (site ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    version        integer NOT NULL CHECK (version >= 1),
    imported_at    timestamptz NOT NULL DEFAULT now(),
    imported_by    text NOT NULL,
    source         text,                  -- the file it came from
    content_sha256 text NOT NULL,         -- of the zones' canonical GeoJSON: equal layouts, equal hashes
    PRIMARY KEY (site, version)
);

-- One row per zone and version: the validated Feature as served back, with the properties
-- that are looked up or filtered on beside it.
CREATE TABLE park_zones (
    site            text NOT NULL,
    version         integer NOT NULL,
    zone_id         text NOT NULL CHECK (zone_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    position        integer NOT NULL,      -- order in the imported file
    kind            text NOT NULL CHECK (kind IN ('park_boundary', 'road', 'parking', 'filling_bay',
                                                  'restricted', 'gate', 'assembly_point')),
    name            text NOT NULL,
    speed_limit_kmh double precision,
    max_stop_s      double precision,
    gate_id         text,
    feature         jsonb NOT NULL,
    PRIMARY KEY (site, version, zone_id),
    FOREIGN KEY (site, version) REFERENCES park_layouts (site, version) ON DELETE CASCADE
);
CREATE INDEX park_zones_kind ON park_zones (site, version, kind);

-- Rules on positions are judged against the current layout and name a tracker's plate
-- (devices.plate): a new layout version, or a tracker's plate changing, reloads the alert
-- service's configuration like a rule change does.
CREATE TRIGGER park_layouts_changed AFTER INSERT OR UPDATE OR DELETE ON park_layouts
    FOR EACH STATEMENT EXECUTE FUNCTION alert_config_changed();
CREATE TRIGGER devices_plate_added AFTER INSERT ON devices
    FOR EACH ROW WHEN (NEW.plate IS NOT NULL) EXECUTE FUNCTION alert_config_changed();
CREATE TRIGGER devices_plate_changed AFTER UPDATE OF plate, site ON devices
    FOR EACH ROW WHEN (OLD.plate IS DISTINCT FROM NEW.plate OR OLD.site IS DISTINCT FROM NEW.site)
    EXECUTE FUNCTION alert_config_changed();
CREATE TRIGGER devices_plate_removed AFTER DELETE ON devices
    FOR EACH ROW WHEN (OLD.plate IS NOT NULL) EXECUTE FUNCTION alert_config_changed();
