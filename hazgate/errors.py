"""Errors shared by the whole service. Each package may subclass these."""

from __future__ import annotations


class HazgateError(Exception):
    """Base class for every error hazgate raises on purpose.

    ``hint`` tells the user what to do next; the CLI prints it under the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  → {self.hint}"


class ConfigError(HazgateError):
    """The configuration cannot work (bad value, missing secret)."""


class ServiceError(HazgateError):
    """A local service (Mosquitto, PostgreSQL) could not be installed, started or reached."""
