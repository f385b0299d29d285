"""Errors of the stay: each with a machine-readable code; the API maps the class to a status."""

from __future__ import annotations

from hazgate.errors import HazgateError


class StayError(HazgateError):
    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class NotFound(StayError):
    """No such booking, visit, lot or device."""


class Conflict(StayError):
    """The thing is not in a state that allows this (a refused booking approved, a full lot)."""


class Invalid(StayError):
    """The request itself cannot work (a tracker of another site, a slot in the past)."""
