"""Schema migrations and database helpers."""
