"""The device registry: who may talk to the broker, where, and as what."""

from __future__ import annotations

import re
from datetime import datetime

import psycopg
from pydantic import BaseModel

from devices import jt808
from devices.types import GATE_DEVICE_TYPES, DeviceType
from hazgate.errors import HazgateError
from hazgate.services.broker_auth import hash_password, new_password

VEHICLE_DEVICE_TYPES = frozenset({DeviceType.TANK_SENSOR, DeviceType.GPS_TRACKER})
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class DeviceError(HazgateError):
    pass


class Device(BaseModel):
    device_id: str
    site: str
    type: DeviceType
    gate_id: str | None
    zone_id: str | None = None
    enabled: bool
    state: str
    last_seen_at: datetime | None


class NewDevice(BaseModel):
    device_id: str
    username: str
    password: str
    # JT/T 808 terminals only (docs/jt808.md): the phone as stored and the code it authenticates with.
    jt808_phone: str | None = None
    jt808_auth_code: str | None = None


def validate_new(site: str, device_id: str, device_type: str, gate_id: str | None) -> DeviceType:
    for label, value in (("site", site), ("device id", device_id), ("gate", gate_id)):
        if value is not None and not NAME_RE.match(value):
            raise DeviceError(
                f"{label} {value!r} is not a valid name",
                hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
    try:
        kind = DeviceType(device_type)
    except ValueError:
        known = ", ".join(t.value for t in DeviceType)
        raise DeviceError(f"unknown device type {device_type!r}", hint=f"use one of: {known}") from None
    if kind in GATE_DEVICE_TYPES and gate_id is None:
        raise DeviceError(f"a {kind.value} belongs to a gate", hint="pass --gate GATE_ID")
    if kind not in GATE_DEVICE_TYPES and gate_id is not None:
        raise DeviceError(f"a {kind.value} is not a gate device", hint="leave out --gate")
    return kind


def add_device(
    conn: psycopg.Connection,
    site: str,
    device_id: str,
    device_type: str,
    gate_id: str | None,
    plate: str | None = None,
    jt808_phone: str | None = None,
    zone_id: str | None = None,
) -> NewDevice:
    """Register a device; ``plate``: the vehicle it is mounted on (tank sensor, GPS tracker);
    ``jt808_phone``: a GPS tracker that is a JT/T 808 terminal with this phone; ``zone_id``: the
    layout zone a fixed device (a gas detector) is installed in."""
    kind = validate_new(site, device_id, device_type, gate_id)
    if plate is not None and kind not in VEHICLE_DEVICE_TYPES:
        raise DeviceError(f"a {kind.value} is not mounted on a vehicle", hint="leave out --plate")
    if zone_id is not None and (plate is not None or kind in GATE_DEVICE_TYPES or kind is DeviceType.GPS_TRACKER):
        raise DeviceError(
            f"a {kind.value}{' on a vehicle' if plate else ''} moves or belongs to a gate: it has no fixed zone",
            hint="leave out --zone",
        )
    if zone_id is not None and not NAME_RE.match(zone_id):
        raise DeviceError(f"zone {zone_id!r} is not a valid zone id", hint="use the zone_id of the park layout")
    if jt808_phone is not None:
        jt808_phone = jt808.normalize_phone(jt808_phone)
    password = new_password()
    try:
        conn.execute(
            "INSERT INTO devices (device_id, site, type, gate_id, mqtt_password_hash, plate, zone_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (device_id, site, kind.value, gate_id, hash_password(password), plate, zone_id),
        )
    except psycopg.errors.UniqueViolation as exc:
        raise DeviceError(
            f"device {device_id!r} is already registered",
            hint="choose another id, or `hazgate devices disable` the old one first",
        ) from exc
    if jt808_phone is None:
        return NewDevice(device_id=device_id, username=device_id, password=password)
    code = jt808.provision(conn, device_id, kind, jt808_phone)
    return NewDevice(
        device_id=device_id,
        username=device_id,
        password=password,
        jt808_phone=jt808_phone,
        jt808_auth_code=code,
    )


def set_enabled(conn: psycopg.Connection, device_id: str, enabled: bool) -> None:
    cur = conn.execute("UPDATE devices SET enabled = %s WHERE device_id = %s", (enabled, device_id))
    if cur.rowcount == 0:
        raise DeviceError(f"no device {device_id!r}", hint="`hazgate devices list` shows the registered ones")


def list_devices(conn: psycopg.Connection) -> list[Device]:
    rows = conn.execute(
        "SELECT device_id, site, type, gate_id, zone_id, enabled, state, last_seen_at FROM devices"
        " ORDER BY site, device_id"
    ).fetchall()
    return [
        Device(
            device_id=r[0],
            site=r[1],
            type=r[2],
            gate_id=r[3],
            zone_id=r[4],
            enabled=r[5],
            state=r[6],
            last_seen_at=r[7],
        )
        for r in rows
    ]
