"""API keys, passwords and roles. Keys are high-entropy random tokens, so a fast hash at rest is
enough; passwords are chosen by people and get scrypt (api/passwords.py)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

import psycopg
from psycopg import AsyncConnection

from api.passwords import PasswordPolicyError, check_policy, hash_password
from hazgate.errors import HazgateError

KEY_PREFIX = "hzg_"


class Role(StrEnum):
    ADMIN = "admin"
    OFFICER = "officer"
    KIOSK = "kiosk"
    SUBSCRIBER = "subscriber"


class UserError(HazgateError):
    pass


class UserExists(UserError):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    name: str
    role: Role
    site: str | None
    gate_id: str | None
    # How the caller proved who it is: "api_key" (Authorization: Bearer) or "session" (cookie).
    via: str = "api_key"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def validate_user(role: str, site: str | None, gate_id: str | None, password: str | None) -> Role:
    """The rules for a new user, shared by the CLI and the users API."""
    try:
        kind = Role(role)
    except ValueError:
        raise UserError(f"unknown role {role!r}", hint=f"use one of: {', '.join(r.value for r in Role)}") from None
    if kind is Role.KIOSK and not (site and gate_id):
        raise UserError("a kiosk user belongs to one gate", hint="pass --site SITE --gate GATE_ID")
    if kind is not Role.KIOSK and gate_id:
        raise UserError("only kiosk users belong to a gate", hint="drop --gate")
    if password is not None:
        try:
            check_policy(password)
        except PasswordPolicyError as exc:
            raise UserError(str(exc), hint="choose a longer password") from None
    return kind


INSERT_USER = (
    "INSERT INTO users (name, role, api_key_hash, site, gate_id, password_hash, password_changed_at, created_by)"
    " VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s::text IS NULL THEN NULL ELSE now() END, %s) RETURNING id"
)


def _new_user(
    name: str, role: str, site: str | None, gate_id: str | None, password: str | None, created_by: str | None
) -> tuple[str, tuple[object, ...]]:
    kind = validate_user(role, site, gate_id, password)
    key = new_api_key()
    password_hash = hash_password(password) if password is not None else None
    return key, (name, kind.value, hash_key(key), site, gate_id, password_hash, password_hash, created_by)


def _created(user_id: int, name: str, role: str, key: str, password: str | None) -> dict[str, object]:
    return {"id": user_id, "name": name, "role": role, "api_key": key, "can_log_in": password is not None}


def add_user(
    conn: psycopg.Connection,
    name: str,
    role: str,
    site: str | None = None,
    gate_id: str | None = None,
    *,
    password: str | None = None,
    created_by: str | None = None,
) -> dict[str, object]:
    key, params = _new_user(name, role, site, gate_id, password, created_by)
    try:
        row = conn.execute(INSERT_USER, params).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise UserExists(f"a user named {name!r} exists", hint="choose another name") from exc
    assert row is not None
    return _created(row[0], name, role, key, password)


async def add_user_async(
    conn: AsyncConnection,
    name: str,
    role: str,
    site: str | None,
    gate_id: str | None,
    *,
    password: str | None,
    created_by: str,
) -> dict[str, object]:
    """add_user for the API (the scrypt hash runs off the event loop)."""
    key, params = await asyncio.to_thread(_new_user, name, role, site, gate_id, password, created_by)
    try:
        cur = await conn.execute(INSERT_USER, params)
    except psycopg.errors.UniqueViolation as exc:
        raise UserExists(f"a user named {name!r} exists", hint="choose another name") from exc
    row = await cur.fetchone()
    assert row is not None
    return _created(row[0], name, role, key, password)


async def principal_for_key(conn: AsyncConnection, api_key: str) -> Principal | None:
    if not api_key.startswith(KEY_PREFIX):
        return None  # not one of our keys (a device's MQTT password, a session token, ...)
    cur = await conn.execute(
        "SELECT id, name, role, site, gate_id FROM users"
        " WHERE api_key_hash = %s AND enabled AND (expires_at IS NULL OR expires_at > now())",
        (hash_key(api_key),),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Principal(row[0], row[1], Role(row[2]), row[3], row[4])
