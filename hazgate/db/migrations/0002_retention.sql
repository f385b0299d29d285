-- Retention and compression where the TimescaleDB edition has them. The Apache-2 edition
-- (Debian's package) has neither policies nor compression; there the service runs its own
-- retention job (drop_chunks), see ingest/maintenance.py.
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        ALTER TABLE telemetry SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'device_id',
            timescaledb.compress_orderby = 'ts DESC'
        );
        PERFORM add_compression_policy('telemetry', INTERVAL '7 days');
        PERFORM add_retention_policy('telemetry', INTERVAL '90 days');
    END IF;
END
$$;
