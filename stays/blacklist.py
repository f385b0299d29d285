"""Where the stay reads the blacklist: one function, so the table behind it is wired in one place.

``BlacklistLookup(conn, subjects, at)`` returns the listings naming any of ``subjects`` (the pure
check ``checks.blacklist`` decides what counts at ``at``). ``DEFAULT_LOOKUP`` reads the park's
black list (``subject_listings``, registry/blacklist.py, kept through ``/api/v1/blacklist``);
``no_blacklist`` lists nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import psycopg

from checks.stay_facts import Listing, SubjectKind, Subjects
from registry import blacklist as registry_blacklist

BlacklistLookup = Callable[[psycopg.Connection, Subjects, datetime], list[Listing]]


def no_blacklist(conn: psycopg.Connection, subjects: Subjects, at: datetime) -> list[Listing]:  # noqa: ARG001
    """No blacklist wired in: nobody is listed."""
    return []


def park_blacklist(conn: psycopg.Connection, subjects: Subjects, at: datetime) -> list[Listing]:
    """The black-list entries in force at ``at`` naming the plate, the carrier or a person."""
    wanted = [registry_blacklist.Subject(kind=kind.value, id=name) for kind, name in subjects.names()]
    return [
        Listing(
            id=item.id,
            subject_kind=SubjectKind(item.subject_kind),
            subject_id=item.subject_id,
            reason=item.reason,
            until=item.until,
        )
        for item in registry_blacklist.find_active(conn, wanted, at)
    ]


DEFAULT_LOOKUP: BlacklistLookup = park_blacklist
