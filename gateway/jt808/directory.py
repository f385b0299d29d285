"""Provisioned terminals, from the database: the state every listener shares (asyncio, psycopg).

A listener keeps nothing about a terminal beyond its connection; which phone is which device,
its auth code and its registration live in ``jt808_terminals`` (migration 0010), so any of
several listeners behind a load balancer accepts any terminal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from devices.jt808 import TerminalError, normalize_phone
from devices.types import DeviceType
from gateway.jt808.protocol import Register, Version
from gateway.validate import KnownDevice

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Terminal:
    phone: str  # normalized (no leading zeros)
    device: KnownDevice
    plate: str | None  # the vehicle it was provisioned on (devices.plate)
    auth_code: str


def stored_phone(bcd_phone: str) -> str | None:
    """The phone as provisioned, from the BCD digits of a header; None for all zeros."""
    try:
        return normalize_phone(bcd_phone)
    except TerminalError:
        return None


class TerminalDirectory:
    def __init__(self, conninfo: str, *, max_connections: int = 4) -> None:
        self.pool = AsyncConnectionPool(
            conninfo,
            open=False,
            min_size=1,
            max_size=max_connections,
            check=AsyncConnectionPool.check_connection,
        )

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def find(self, phone: str) -> Terminal | None:
        async with self.pool.connection(timeout=10) as conn:
            cur = await conn.execute(
                "SELECT t.phone, d.device_id, d.site, d.type, d.gate_id, d.enabled, d.plate, t.auth_code"
                " FROM jt808_terminals t JOIN devices d USING (device_id) WHERE t.phone = %s",
                (phone,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        device = KnownDevice(row[1], row[2], DeviceType(row[3]), row[4], row[5])
        return Terminal(row[0], device, row[6], row[7])

    async def registered(self, phone: str, version: Version, reg: Register) -> None:
        async with self.pool.connection(timeout=10) as conn:
            await conn.execute(
                "UPDATE jt808_terminals SET registered_at = now(), protocol = %s, manufacturer = %s,"
                " model = %s, terminal_id = %s, reported_plate = %s WHERE phone = %s",
                (version.value, reg.manufacturer, reg.model, reg.terminal_id, reg.plate, phone),
            )

    async def authenticated(self, phone: str) -> None:
        async with self.pool.connection(timeout=10) as conn:
            await conn.execute("UPDATE jt808_terminals SET authenticated_at = now() WHERE phone = %s", (phone,))

    async def logged_out(self, phone: str) -> None:
        async with self.pool.connection(timeout=10) as conn:
            await conn.execute("UPDATE jt808_terminals SET logged_out_at = now() WHERE phone = %s", (phone,))
