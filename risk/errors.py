"""Errors of the risk index and the monthly report; each says what to do next (``hint``)."""

from __future__ import annotations

from hazgate.errors import HazgateError


class RiskError(HazgateError):
    """Base of this package's errors (a bad month, a missing font)."""
