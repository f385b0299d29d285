"""Errors of the emergency-response package; each says what to do next (``hint``)."""

from __future__ import annotations

from hazgate.errors import HazgateError


class EmergencyError(HazgateError):
    """Base of this package's errors."""


class CatalogueError(EmergencyError):
    """The substance catalogue (shipped ERG data or the park's CSV) cannot be read as given."""
