"""Project-owned local services: Mosquitto and PostgreSQL + TimescaleDB on loopback."""
