"""The pages: dashboard at /, kiosk at /kiosk/{site}/{gate_id}, login; assets from api/static.

Served by the app itself, nothing from elsewhere (the CSP says so to the browser too). A page
needs a live session; without one the browser is sent to the login page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from psycopg_pool import AsyncConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Principal, Role
from api.deps import auth_settings, get_pool, session_cookie
from api.sessions import session_for_token

STATIC: Final = Path(__file__).with_name("static")
CSP: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self';"
    " frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]

router = APIRouter(include_in_schema=False)


async def _person(
    request: Request,
    pool: Annotated[AsyncConnectionPool, Depends(get_pool)],
    cookie: Annotated[str | None, Depends(session_cookie)],
) -> Principal | None:
    if not cookie:
        return None
    async with pool.connection() as conn:
        session = await session_for_token(conn, cookie, auth_settings(request))
    return session.principal if session else None


Person = Annotated[Principal | None, Depends(_person)]


def _page(name: str) -> FileResponse:
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": CSP}
    return FileResponse(STATIC / name, media_type="text/html", headers=headers)


def _to_login(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(path, safe='/')}", status_code=303)


@router.get("/")
async def dashboard(person: Person) -> Response:
    if person is None:
        return _to_login("/")
    if person.role is Role.KIOSK:
        return RedirectResponse(f"/kiosk/{quote(person.site or '')}/{quote(person.gate_id or '')}", status_code=303)
    if person.role is Role.SUBSCRIBER:
        return _page("forbidden.html")
    return _page("dashboard.html")


@router.get("/response/{alert_id}")
async def response_card(alert_id: str, person: Person) -> Response:
    """The printable emergency response card of an alert (officers and admins)."""
    if person is None:
        return _to_login(f"/response/{alert_id}")
    if person.role not in (Role.ADMIN, Role.OFFICER):
        return _page("forbidden.html")
    return _page("response.html")


@router.get("/kiosk/{site}/{gate_id}")
async def kiosk(site: str, gate_id: str, person: Person) -> Response:
    if person is None:
        return _to_login(f"/kiosk/{site}/{gate_id}")
    own_gate = person.role is Role.KIOSK and (person.site, person.gate_id) == (site, gate_id)
    if not (own_gate or person.role in (Role.ADMIN, Role.OFFICER)):
        return _page("forbidden.html")
    return _page("kiosk.html")


@router.get("/visits/{visit_id}")
async def visit_page(visit_id: str, person: Person) -> Response:
    """One tanker's stay with its timeline (officers and admins)."""
    if person is None:
        return _to_login(f"/visits/{visit_id}")
    if person.role not in (Role.ADMIN, Role.OFFICER):
        return _page("forbidden.html")
    return _page("visit.html")


@router.get("/login")
async def login_page() -> Response:
    return _page("login.html")


class SecurityHeaders:
    """nosniff and no framing on every answer (the pages add a CSP allowing only our origin)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
