"""The FastAPI application factory. Routes live in api/routes/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from alerts.lag import BLOCKER_SQL, EVALUATION_HEALTH_SQL, blocker_from_row, evaluation_health
from alerts.partitions import MEMBER_LOCK_KEY, PARTITION_LOCK_KEY
from api import errors as error_shape
from api import openapi, pages
from api.audit import AuditMiddleware
from api.commands import CommandPublisher
from api.health import HEALTH_RESPONSES, HealthOut
from api.live import LiveBridge
from api.routes import ROUTERS
from api.stream import Broadcaster, PgRelay
from hazgate import __version__
from hazgate.mqtt_probe import probe_broker
from hazgate.roles import WITH_API, build_process
from hazgate.settings import Settings
from stays.blacklist import DEFAULT_LOOKUP, BlacklistLookup

if TYPE_CHECKING:
    from gateway.service import GatewayService


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


async def alert_evaluation_health(pool: AsyncConnectionPool, warn_s: float) -> dict[str, Any] | None:
    """Evaluators, partitions without owner, lag, and what holds the stream back (alerts/lag.py)."""
    try:
        async with pool.connection(timeout=3) as conn:
            params = {"member": MEMBER_LOCK_KEY, "part": PARTITION_LOCK_KEY}
            row = await (await conn.execute(EVALUATION_HEALTH_SQL, params)).fetchone()
            if row is None:
                return None
            blocker = None
            if row[4] is not None and float(row[4]) >= warn_s:
                blocker = blocker_from_row(await (await conn.execute(BLOCKER_SQL)).fetchone())
    except Exception:  # noqa: BLE001 - health is reported, never raised
        return None
    return evaluation_health(row, blocker)


def _error_handlers(app: FastAPI) -> None:
    @app.middleware("http")
    async def refuse_nul_in_query(request: Request, call_next: Any) -> Any:
        # PostgreSQL text cannot hold NUL, and no name, code or filter of hazgate has one: a query
        # parameter with NUL is refused here with its name, instead of failing in the database.
        for name, value in request.query_params.multi_items():
            if "\x00" in name or "\x00" in value:
                where = name.replace("\x00", "\\x00")
                return JSONResponse(
                    {
                        "error": {
                            "code": "invalid_request",
                            "message": f"query parameter {where!r} contains a NUL character",
                        }
                    },
                    status_code=422,
                )
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(_r: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else {"code": "http_error", "message": str(exc.detail)}
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_r: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}"
        # jsonable_encoder: a validator's ValueError sits in the error's ctx and is not JSON.
        details = jsonable_encoder(exc.errors())
        return JSONResponse(
            {"error": {"code": "invalid_request", "message": message, "details": details}}, status_code=422
        )


def _offline_docs(app: FastAPI) -> None:
    from importlib.util import find_spec

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    spec = find_spec("swagger_ui")  # files only: the package's Python side is not used
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed; run `make run` or `pip install -e .`")
    assets = Path(spec.submodule_search_locations[0]) / "static"
    app.mount("/docs/assets", StaticFiles(directory=assets), name="swagger-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="hazgate API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


async def _stop_server_on_fatal(app: FastAPI, gateway: GatewayService) -> None:
    """The in-process gateway must stop (its client id taken, an untrusted broker): so does the
    server that `hazgate serve` runs (it sets ``app.state.stop_server``), which then exits with
    the gateway's error."""
    while not gateway.mqtt.fatal.is_set():
        await asyncio.sleep(0.5)
    stop_server = getattr(app.state, "stop_server", None)
    if stop_server is not None:
        stop_server()


def create_app(settings: Settings, *, role: str = "api", blacklist: BlacklistLookup = DEFAULT_LOOKUP) -> FastAPI:
    """The API, and the background parts of ``role`` in the same process (hazgate/roles.py):
    ``all`` runs the MQTT gateway and alert evaluation beside it, ``api`` nothing else."""
    if role not in WITH_API:
        raise ValueError(f"role {role!r} serves no API")
    # check=: a connection broken by a database restart is replaced, not handed to a request.
    pool = AsyncConnectionPool(
        settings.db_url, open=False, min_size=1, max_size=10, check=AsyncConnectionPool.check_connection
    )
    # The stay's routes (bookings, visits, the queue) share their transitions with the gate
    # pipeline, which is synchronous: they run them on a small pool of their own, in a thread.
    sync_pool = ConnectionPool(
        settings.db_url, open=False, min_size=1, max_size=4, check=ConnectionPool.check_connection
    )
    process = build_process(settings, role, blacklist=blacklist)
    gateway_service = process.gateway
    broadcaster = Broadcaster()
    relay = PgRelay(settings.db_url, broadcaster)
    # Pages' live feed (issue 6): decisions and statuses from the broker, telemetry from the gateway.
    live = LiveBridge(settings, broadcaster, gateway_service)
    # Officer actions (override → barrier) go out on the API's own client, whatever the role.
    commands = CommandPublisher(settings)

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=False)
        await asyncio.to_thread(sync_pool.open, False)
        relay.start()
        live.start()
        commands.start()
        watch = None
        process.start()
        if gateway_service is not None:
            watch = asyncio.create_task(_stop_server_on_fatal(app_, gateway_service), name="hazgate-gateway-watch")
        try:
            yield
        finally:
            if watch is not None:
                watch.cancel()
            await asyncio.to_thread(process.stop)
            await asyncio.to_thread(commands.stop)
            await live.stop()
            await relay.stop()
            await pool.close()
            await asyncio.to_thread(sync_pool.close)

    # docs_url/redoc_url off: FastAPI's default pages load Swagger UI from a CDN; ours serves
    # the copy that ships in the swagger-ui-py package (nothing is fetched at run time).
    app = FastAPI(title="hazgate", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    _offline_docs(app)
    app.state.settings = settings
    app.state.pool = pool
    app.state.process = process
    app.state.gateway = gateway_service
    app.state.alerts = process.evaluator
    app.state.sync_pool = sync_pool
    app.state.blacklist = blacklist
    # Departures are alert inputs written in the transaction that closes the stay (stays/departures.py).
    app.state.broadcaster = broadcaster
    app.state.commands = commands
    _error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    # Issue 6: the one error shape everywhere, the audit of changes, pages, documented errors.
    app.state.live = live
    error_shape.install(app)
    app.add_middleware(AuditMiddleware)
    pages.mount(app)
    openapi.complete(app)

    @app.get("/healthz", tags=["health"], response_model=HealthOut, responses=HEALTH_RESPONSES)
    async def healthz() -> JSONResponse:
        """Database (with TimescaleDB version and edition), broker reachability, alert evaluation."""
        database = await database_health(pool)
        broker: dict[str, Any] = {"url": settings.mqtt_url}
        if gateway_service is not None:
            broker["up"] = gateway_service.mqtt.connected.is_set()
            problem = gateway_service.mqtt.last_error
        else:
            problem = await asyncio.to_thread(probe_broker, settings)
            broker["up"] = problem is None
        if problem:
            broker["error"] = problem
        healthy = database["up"] and broker["up"]
        body: dict[str, Any] = {"status": "ok" if healthy else "degraded", "database": database, "mqtt": broker}
        if database["up"]:
            body["alerts"] = await alert_evaluation_health(pool, settings.alerts.lag_warn_s)
        return JSONResponse(body, status_code=200 if healthy else 503)

    return app
