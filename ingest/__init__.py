"""Telemetry ingest: batched, idempotent writes into TimescaleDB."""
