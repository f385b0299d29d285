"""The one error shape for what FastAPI's own handlers do not cover: unknown paths, wrong
methods (Starlette's HTTPException) and unexpected failures."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def starlette_error(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = {"code": CODES.get(exc.status_code, "http_error"), "message": str(exc.detail)}
        return JSONResponse({"error": body}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        body = {"code": "internal", "message": "internal error; it is logged"}
        return JSONResponse({"error": body}, status_code=500)
