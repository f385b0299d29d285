"""`hazgate services up/down/status`: both local services together, with their secrets."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psycopg

from hazgate.services.broker_auth import BrokerAccount, hash_password
from hazgate.services.mosquitto import Mosquitto
from hazgate.services.timescale import Timescale
from hazgate.settings import SECRETS_FILE, Settings


def ensure_secrets(state_dir: Path) -> dict[str, str]:
    """Random passwords for the local services, made once and kept (mode 600)."""
    path = state_dir / SECRETS_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for key in ("db_superuser_password", "db_password", "mqtt_password"):
        if key not in data:
            data[key] = secrets.token_urlsafe(24)
            changed = True
    if changed:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.chmod(0o600)
        os.replace(tmp, path)
    return data


class LocalServices:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        svc = settings.services
        self.broker = Mosquitto(settings.state_dir, svc.mqtt_port, svc.start_timeout_s)
        self.db = Timescale(settings.state_dir, svc.cache_dir, svc.db_port, svc.start_timeout_s)

    def service_account(self, secrets_: dict[str, str]) -> BrokerAccount:
        # Hashed afresh on every `up`: the salt changes, the password does not.
        return BrokerAccount(self.settings.mqtt.username, hash_password(secrets_["mqtt_password"]), "service")

    def broker_accounts(self, secrets_: dict[str, str]) -> list[BrokerAccount]:
        """The service account plus every registered device the database knows."""
        accounts = [self.service_account(secrets_)]
        accounts.extend(registered_device_accounts(self.db.app_conninfo(secrets_["db_password"])))
        return accounts

    def up(self) -> dict[str, Any]:
        secrets_ = ensure_secrets(self.settings.state_dir)
        db = self.db.up(secrets_["db_superuser_password"], secrets_["db_password"])
        broker = self.broker.up(self.broker_accounts(secrets_))
        return self._report(broker_up=broker.up, db_status=asdict(db))

    def down(self) -> None:
        self.broker.down()
        self.db.down()

    def status(self) -> dict[str, Any]:
        secrets_ = ensure_secrets(self.settings.state_dir)
        db = self.db.status(secrets_["db_password"])
        return self._report(broker_up=self.broker.status().up, db_status=asdict(db))

    def _report(self, *, broker_up: bool, db_status: dict[str, Any]) -> dict[str, Any]:
        return {
            "mqtt": {"host": "127.0.0.1", "port": self.broker.port, "up": broker_up},
            "database": db_status,
        }


def registered_device_accounts(db_url: str) -> list[BrokerAccount]:
    """Broker accounts of enabled devices; none before the first migration."""
    with psycopg.connect(db_url, connect_timeout=5) as conn:
        if conn.execute("SELECT to_regclass('devices')").fetchone() == (None,):
            return []
        rows = conn.execute(
            "SELECT device_id, mqtt_password_hash, type, site, gate_id FROM devices WHERE enabled ORDER BY device_id"
        ).fetchall()
    return [BrokerAccount(r[0], r[1], r[2], r[3], r[4]) for r in rows]
