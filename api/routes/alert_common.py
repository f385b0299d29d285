"""What the alerting routes share: roles, the write transaction, small response models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from psycopg import AsyncConnection
from pydantic import BaseModel, ValidationError

from api.auth import Principal, Role
from api.deps import ApiError, require

Officer = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER))]
Subscriber = Annotated[Principal, Depends(require(Role.ADMIN, Role.OFFICER, Role.SUBSCRIBER))]


def is_staff(principal: Principal) -> bool:
    return principal.role in (Role.ADMIN, Role.OFFICER)


class Deleted(BaseModel):
    id: str
    deleted_at: datetime


@asynccontextmanager
async def write_transaction(conn: AsyncConnection) -> AsyncIterator[None]:
    """A real transaction, committed at the end of the block.

    The request's connection already ran the API-key lookup, which opened an implicit
    transaction; ``conn.transaction()`` inside it would only be a savepoint, so end it first.
    """
    await conn.commit()
    async with conn.transaction():
        yield


def unprocessable(code: str, exc: ValidationError | ValueError) -> ApiError:
    """422 naming the field and saying why, from a pydantic error or a plain ValueError."""
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
    else:
        message = str(exc)
    return ApiError(422, code, message)
