"""API keys and roles. Keys are high-entropy random tokens, so a fast hash at rest is enough."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

import psycopg
from psycopg import AsyncConnection

from hazgate.errors import HazgateError

KEY_PREFIX = "hzg_"


class Role(StrEnum):
    ADMIN = "admin"
    OFFICER = "officer"
    KIOSK = "kiosk"
    SUBSCRIBER = "subscriber"


class UserError(HazgateError):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    name: str
    role: Role
    site: str | None
    gate_id: str | None


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def add_user(
    conn: psycopg.Connection, name: str, role: str, site: str | None = None, gate_id: str | None = None
) -> dict[str, object]:
    try:
        kind = Role(role)
    except ValueError:
        raise UserError(f"unknown role {role!r}", hint=f"use one of: {', '.join(r.value for r in Role)}") from None
    if kind is Role.KIOSK and not (site and gate_id):
        raise UserError("a kiosk user belongs to one gate", hint="pass --site SITE --gate GATE_ID")
    key = new_api_key()
    try:
        row = conn.execute(
            "INSERT INTO users (name, role, api_key_hash, site, gate_id) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (name, kind.value, hash_key(key), site, gate_id),
        ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise UserError(f"a user named {name!r} exists", hint="choose another name") from exc
    assert row is not None
    return {"id": row[0], "name": name, "role": kind.value, "api_key": key}


async def principal_for_key(conn: AsyncConnection, api_key: str) -> Principal | None:
    cur = await conn.execute(
        "SELECT id, name, role, site, gate_id FROM users"
        " WHERE api_key_hash = %s AND enabled AND (expires_at IS NULL OR expires_at > now())",
        (hash_key(api_key),),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Principal(row[0], row[1], Role(row[2]), row[3], row[4])
