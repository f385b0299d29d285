"""Where the stay reads the blacklist: one function, so the table behind it is wired in one place.

``BlacklistLookup(conn, subjects, at)`` returns the listings naming any of ``subjects`` (in force
or not; the pure check ``checks.blacklist`` decides what counts at ``at``). The blacklist table and
its API belong to the emergency-response work; until it is wired here, ``no_blacklist`` is used
and nobody is listed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import psycopg

from checks.stay_facts import Listing, Subjects

BlacklistLookup = Callable[[psycopg.Connection, Subjects, datetime], list[Listing]]


def no_blacklist(conn: psycopg.Connection, subjects: Subjects, at: datetime) -> list[Listing]:  # noqa: ARG001
    """No blacklist wired in: nobody is listed."""
    return []


DEFAULT_LOOKUP: BlacklistLookup = no_blacklist
