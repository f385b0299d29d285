"""Provisioning of JT/T 808 terminals: which phone reports for which GPS tracker, and its auth code."""

from __future__ import annotations

import re
import secrets

import psycopg

from devices.types import DeviceType
from hazgate.errors import HazgateError

# A terminal phone as people write it: up to 20 digits (BCD[10] in JT/T 808-2019).
PHONE_RE = re.compile(r"^[0-9]{1,20}$")
# 16 characters of [A-Za-z0-9_-]: short enough for any terminal's STRING field, 96 random bits.
AUTH_CODE_BYTES = 12


class TerminalError(HazgateError):
    pass


def normalize_phone(phone: str) -> str:
    """The phone without leading zeros: BCD[6] "013912345678" and BCD[10]
    "00000000013912345678" name the same terminal "13912345678"."""
    digits = phone.strip()
    if not PHONE_RE.match(digits) or not digits.strip("0"):
        raise TerminalError(
            f"terminal phone {phone!r} is not 1-20 digits (not all zero)",
            hint="pass the SIM number the terminal reports, e.g. --jt808-phone 13912345678",
        )
    return digits.lstrip("0")


def new_auth_code() -> str:
    return secrets.token_urlsafe(AUTH_CODE_BYTES)


def provision(conn: psycopg.Connection, device_id: str, device_type: DeviceType, phone: str) -> str:
    """Attach terminal ``phone`` to the new device (same transaction); return its auth code."""
    if device_type is not DeviceType.GPS_TRACKER:
        raise TerminalError(
            f"a {device_type.value} does not speak JT/T 808", hint="JT/T 808 terminals are --type gps_tracker"
        )
    code = new_auth_code()
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO jt808_terminals (phone, device_id, auth_code) VALUES (%s, %s, %s)",
                (normalize_phone(phone), device_id, code),
            )
    except psycopg.errors.UniqueViolation as exc:
        raise TerminalError(
            f"terminal phone {phone} is already provisioned",
            hint="`hazgate devices disable` or remove the device that has it first",
        ) from exc
    return code
