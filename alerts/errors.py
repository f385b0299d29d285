"""Errors the alerting core raises on purpose.

The core imports only pydantic, the standard library and ``devices.types``, so this base does not
derive from ``hazgate.errors.HazgateError``; adapters translate at their edge (HTTP 409 for
:class:`AlertStateError`, 422 for :class:`UnsafeUrlError`).
"""

from __future__ import annotations


class AlertsError(Exception):
    """Base class of every error the alerting core raises on purpose."""


class AlertStateError(AlertsError):
    """An operation does not fit the alert's state (acknowledging a resolved alert)."""


class StateFormatError(AlertsError):
    """Saved evaluation state cannot be read (wrong version, damaged JSON)."""


class UnsafeUrlError(AlertsError, ValueError):
    """A webhook URL or address is refused (metadata service, link-local, wrong scheme).

    A ``ValueError`` so that pydantic validators turn it into a field error with this message.
    """


class InputFormatError(AlertsError):
    """A stored engine input cannot be read (a kind this build does not know, a damaged body)."""
