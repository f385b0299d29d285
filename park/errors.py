"""Errors of the park layout's adapters (the pure modules report :class:`park.layout.Problem`)."""

from __future__ import annotations

from hazgate.errors import HazgateError
from park.layout import Problem


class LayoutError(HazgateError):
    """A layout could not be read or imported."""


class LayoutRefused(LayoutError):
    """The file has errors; nothing was imported. ``problems`` lists all of them (and the warnings)."""

    def __init__(self, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"]
        listed = "".join(f"\n  {p}" for p in errors[:8]) + ("\n  ..." if len(errors) > 8 else "")
        super().__init__(
            f"the layout has {len(errors)} error(s); nothing was imported:{listed}",
            hint="fix the features listed (by index in features and zone_id) and import the file again",
        )
        self.problems = problems
