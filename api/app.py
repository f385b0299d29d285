"""The FastAPI application factory. Routes live in their own modules under api/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from hazgate import __version__
from hazgate.mqtt_probe import probe_broker
from hazgate.settings import Settings


async def database_health(pool: AsyncConnectionPool) -> dict[str, Any]:
    try:
        async with pool.connection(timeout=3) as conn:
            cur = await conn.execute(
                "SELECT extversion, current_setting('timescaledb.license', true)"
                " FROM pg_extension WHERE extname = 'timescaledb'"
            )
            row = await cur.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down", and we say why
        return {"up": False, "error": str(exc)}
    return {"up": True, "timescaledb": row[0] if row else None, "edition": row[1] if row else None}


def create_app(settings: Settings) -> FastAPI:
    pool = AsyncConnectionPool(settings.db_url, open=False, min_size=1, max_size=10)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=False)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="hazgate", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.pool = pool

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        """Database (with TimescaleDB version and edition) and broker reachability."""
        database = await database_health(pool)
        problem = await asyncio.to_thread(
            probe_broker,
            settings.mqtt_host,
            settings.mqtt_port,
            settings.mqtt.username,
            settings.mqtt_password,
        )
        broker: dict[str, Any] = {"up": problem is None, "url": settings.mqtt_url}
        if problem:
            broker["error"] = problem
        return {
            "status": "ok" if database["up"] and broker["up"] else "degraded",
            "database": database,
            "mqtt": broker,
        }

    return app
