"""Run a synchronous database adapter (psycopg.Connection) from an async route.

The response card, the risk index and the monthly report share their adapters with the alert
service and the CLI, which are synchronous; a route runs them in a worker thread on a
connection of their own (read-only work; a few per minute, so no pool is kept).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import psycopg
from fastapi import Request

from hazgate.settings import Settings

T = TypeVar("T")


def _run(url: str, fn: Callable[[psycopg.Connection], T]) -> T:
    with psycopg.connect(url, connect_timeout=10) as conn:
        conn.read_only = True
        return fn(conn)


async def run_sync(request: Request, fn: Callable[[psycopg.Connection], T]) -> T:
    settings: Settings = request.app.state.settings
    return await asyncio.to_thread(_run, settings.db_url, fn)
