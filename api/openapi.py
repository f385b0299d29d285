"""The one error shape in the OpenAPI document, and the error responses every route can give.

Routes name their own particular errors (``responses=errors(404, 409)``); :func:`complete`
adds what follows from a route's shape to every operation: 401/403 where a caller must be
authenticated, 404 where the path names an object, 422 where there is input to validate (in
our shape, replacing FastAPI's default), 500 everywhere.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable, e.g. forbidden, not_found, invalid_request, rate_limited")
    message: str = Field(description="for a person: what was wrong and what to do")
    details: list[dict[str, Any]] | None = Field(None, description="validation errors, for invalid_request")


class ErrorOut(BaseModel):
    """Every error the API answers."""

    error: ErrorBody


DESCRIPTIONS: Final = {
    400: "the body could not be read as JSON text",
    401: "not authenticated: no or an unknown, disabled or expired API key or session",
    403: "authenticated, but this role or this party may not do this (or CSRF / origin check failed)",
    404: "no such object, or not one this caller may see",
    409: "the object's state does not allow this",
    413: "request too large",
    422: "invalid input: which field and why",
    429: "too many requests; wait for Retry-After seconds",
    500: "internal error",
    503: "a dependency (database, broker) is unavailable",
}
REF: Final = {"$ref": "#/components/schemas/ErrorOut"}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route decorator."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorOut, "description": DESCRIPTIONS.get(status, "error")}
        if status == 429:
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
        out[status] = entry
    return out


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "error"),
        "content": {"application/json": {"schema": REF}},
    }
    if status == 429:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    return response


def _describe_streams(responses: dict[str, Any]) -> None:
    """Bodies that are not JSON (an image, an event stream) still get a schema: a string."""
    for response in responses.values():
        for media, content in response.get("content", {}).items():
            if not content.get("schema"):
                binary = media.startswith("image/")
                content["schema"] = {"type": "string", "format": "binary"} if binary else {"type": "string"}


def _complete_operation(path: str, operation: dict[str, Any], secured: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    _describe_streams(responses)
    wanted = [500]
    if secured or operation.get("security"):
        wanted += [401, 403]
    if "{" in path:
        wanted.append(404)
    if operation.get("parameters") or operation.get("requestBody"):
        wanted.append(422)
    if operation.get("requestBody"):
        wanted.append(400)  # a body that is not even UTF-8 / JSON text
    for status in wanted:
        key = str(status)
        if key == "422" or key not in responses:
            responses[key] = _error_response(status)


def complete(app: FastAPI) -> None:
    """Install an ``app.openapi`` that documents the error responses of every /api/ route."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in components["ErrorOut"].pop("$defs", {}).items():
            components[name] = sub
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    _complete_operation(path, operation, path.startswith("/api/"))
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
