"""Browser sessions: a random token in an HttpOnly cookie, its SHA-256 in user_sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final

from psycopg import AsyncConnection

from api.auth import Principal, Role
from api.auth_settings import AuthSettings

SESSION_COOKIE: Final = "hazgate_session"
CSRF_HEADER: Final = "X-CSRF-Token"
# last_seen_at is written at most this often per session, not on every request.
TOUCH_EVERY_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    csrf_token: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def max_age(settings: AuthSettings, role: Role) -> timedelta:
    hours = settings.kiosk_session_max_age_h if role is Role.KIOSK else settings.session_max_age_h
    return timedelta(hours=hours)


async def create_session(
    conn: AsyncConnection, principal: Principal, settings: AuthSettings, ip: str | None, user_agent: str | None
) -> tuple[str, Session]:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = datetime.now(UTC) + max_age(settings, principal.role)
    await conn.execute(
        "INSERT INTO user_sessions (token_hash, user_id, csrf_token, expires_at, ip, user_agent)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (_hash(token), principal.user_id, csrf, expires, ip, (user_agent or "")[:300]),
    )
    return token, Session(replace(principal, via="session"), csrf, expires)


async def session_for_token(conn: AsyncConnection, token: str, settings: AuthSettings) -> Session | None:
    """The live session of an enabled, unexpired user, or None. Idle sessions end here."""
    cur = await conn.execute(
        "SELECT u.id, u.name, u.role, u.site, u.gate_id, s.csrf_token, s.expires_at, s.last_seen_at"
        " FROM user_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = %s AND s.expires_at > now()"
        " AND u.enabled AND (u.expires_at IS NULL OR u.expires_at > now())",
        (_hash(token),),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    role = Role(row[2])
    now = datetime.now(UTC)
    idle = (now - row[7]).total_seconds()
    if role is not Role.KIOSK and idle > settings.session_idle_min * 60:
        await conn.execute("DELETE FROM user_sessions WHERE token_hash = %s", (_hash(token),))
        return None
    if idle > TOUCH_EVERY_S:
        await conn.execute("UPDATE user_sessions SET last_seen_at = now() WHERE token_hash = %s", (_hash(token),))
    principal = Principal(row[0], row[1], role, row[3], row[4], via="session")
    return Session(principal, row[5], row[6])


async def end_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute("DELETE FROM user_sessions WHERE token_hash = %s", (_hash(token),))


async def end_user_sessions(conn: AsyncConnection, user_id: int) -> None:
    """Log a user out everywhere (password changed, disabled, role changed)."""
    await conn.execute("DELETE FROM user_sessions WHERE user_id = %s", (user_id,))


def csrf_ok(session: Session, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(header.encode(), session.csrf_token.encode())
