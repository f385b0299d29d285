"""A snapshot of the device registry for validation, refreshed from the database."""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from devices.types import DeviceType
from gateway.validate import KnownDevice

logger = logging.getLogger(__name__)

# A device registered a moment ago must not be refused; a flood of messages from an unknown
# id must not turn into a flood of queries. So an unknown id is looked up on its own, at most
# once per interval, and the ids we have looked up are bounded.
UNKNOWN_RECHECK_S = 1.0
MAX_UNKNOWN_TRACKED = 10_000


class RegistryUnavailable(Exception):
    """The registry cannot be read now (database unreachable): nothing can be judged unknown."""


class DeviceCache:
    def __init__(self, conninfo: str, refresh_interval_s: float = 10.0) -> None:
        self.conninfo = conninfo
        self.refresh_interval_s = refresh_interval_s
        self._devices: dict[str, KnownDevice] = {}
        self._loaded_at = 0.0
        # A gateway started while the database is down knows no device yet: it must wait, not
        # refuse every message as coming from an unknown device.
        self.loaded = False
        self._lock = threading.Lock()
        self._unknown_checked: dict[str, float] = {}

    def snapshot(self) -> dict[str, KnownDevice]:
        if time.monotonic() - self._loaded_at > self.refresh_interval_s:
            self.reload()
        return self._devices

    def lookup(self, device_id: str) -> KnownDevice | None:
        """One device, asked of the database when we do not know it (rate-limited per id).
        RegistryUnavailable when the database cannot say: an id is unknown only if it said so."""
        known = self._devices.get(device_id)
        if known is not None:
            return known
        now = time.monotonic()
        if now - self._unknown_checked.get(device_id, -UNKNOWN_RECHECK_S) < UNKNOWN_RECHECK_S:
            return None
        if len(self._unknown_checked) >= MAX_UNKNOWN_TRACKED:
            self._unknown_checked.clear()
        self._unknown_checked[device_id] = now
        try:
            with psycopg.connect(self.conninfo, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT device_id, site, type, gate_id, enabled FROM devices WHERE device_id = %s", (device_id,)
                ).fetchone()
        except psycopg.Error as exc:
            self._unknown_checked.pop(device_id, None)
            raise RegistryUnavailable(f"device lookup failed: {exc}") from exc
        if row is None:
            return None
        device = KnownDevice(row[0], row[1], DeviceType(row[2]), row[3], row[4])
        self._devices = {**self._devices, device_id: device}
        self._unknown_checked.pop(device_id, None)
        return device

    def reload(self) -> dict[str, KnownDevice]:
        with self._lock:
            try:
                with psycopg.connect(self.conninfo, connect_timeout=5) as conn:
                    rows = conn.execute("SELECT device_id, site, type, gate_id, enabled FROM devices").fetchall()
            except psycopg.Error as exc:
                # Keep validating against the last snapshot; the writer will notice the outage too.
                logger.warning("device registry reload failed, keeping %d known devices: %s", len(self._devices), exc)
                self._loaded_at = time.monotonic()
                return self._devices
            self._devices = {r[0]: KnownDevice(r[0], r[1], DeviceType(r[2]), r[3], r[4]) for r in rows}
            self._loaded_at = time.monotonic()
            self.loaded = True
            return self._devices
