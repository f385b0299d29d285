"""Synchronous database work (psycopg.Connection) from async routes, in a worker thread.

- ``run_sync``: read-only adapters shared with the alert service and the CLI (the response card,
  the risk index, the monthly report), on a connection of their own (a few per minute, no pool).
- ``run``: the stay's transitions (stays/), which the gate pipeline runs too, on the app's small
  synchronous pool, committed when they return; the stay's errors become the API's error shape
  here, at the edge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import psycopg
from fastapi import Request
from psycopg_pool import ConnectionPool

from api.deps import ApiError
from checks import CheckPolicy
from hazgate.settings import Settings
from stays.blacklist import BlacklistLookup
from stays.errors import Conflict, Invalid, NotFound, StayError

T = TypeVar("T")


def _run(url: str, fn: Callable[[psycopg.Connection], T]) -> T:
    with psycopg.connect(url, connect_timeout=10) as conn:
        conn.read_only = True
        return fn(conn)


async def run_sync(request: Request, fn: Callable[[psycopg.Connection], T]) -> T:
    settings: Settings = request.app.state.settings
    return await asyncio.to_thread(_run, settings.db_url, fn)


STATUS = {NotFound: 404, Conflict: 409, Invalid: 422}


def as_api_error(exc: StayError) -> ApiError:
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 409)
    message = exc.message if not exc.hint else f"{exc.message}; {exc.hint}"
    return ApiError(status, exc.code, message)


async def run(request: Request, work: Callable[[psycopg.Connection], T]) -> T:
    """``work(conn)`` in a thread, committed when it returns, rolled back when it raises."""
    pool: ConnectionPool = request.app.state.sync_pool

    def in_thread() -> T:
        with pool.connection() as conn:
            return work(conn)

    try:
        return await asyncio.to_thread(in_thread)
    except StayError as exc:
        raise as_api_error(exc) from exc


def policy(request: Request) -> CheckPolicy:
    return request.app.state.settings.gate.check_policy()  # type: ignore[no-any-return]


def blacklist(request: Request) -> BlacklistLookup:
    return request.app.state.blacklist  # type: ignore[no-any-return]


def now() -> datetime:
    return datetime.now(UTC)
