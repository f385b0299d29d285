"""Evaluation state: explicit, immutable and JSON-serializable, so it survives a restart.

``EngineState.rules[rule_id].subjects[subject]`` holds what the engine remembers about one
(rule, subject) pair; a subject is a device id (threshold, rate, absence) or a plate (dwell,
gate_failure). Only pairs with something to remember are kept: an idle threshold subject has no
entry. The engine never mutates a state; it returns a new one that shares unchanged parts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alerts.errors import StateFormatError
from alerts.models import Severity

STATE_VERSION: Final = 1


def fingerprint(rule_id: str, subject: str) -> str:
    """Stable identity of the one open alert a (rule, subject) pair may have.

    32 hex digits of SHA-256 over ``rule_id``, a unit separator and ``subject``: the same in every
    process and version, so the store can keep a unique index on open alerts by fingerprint.
    """
    return hashlib.sha256(f"{rule_id}\x1f{subject}".encode()).hexdigest()[:32]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class SubjectState:
    """What one (rule, subject) pair remembers. Field use by rule kind:

    - ``last_ts``: threshold/rate — newest reading evaluated (older or equal ones are ignored);
      absence — last seen; dwell — entry time; gate_failure — newest failed inspection.
    - ``pending_since``: threshold/rate — since when the condition has held (``for_s``).
    - ``firing`` / ``firing_since``: the pair has an open alert, fired at that time.
    - ``offline``: absence — the last status was ``offline``.
    - ``points``: rate — ``(ts, value)`` readings inside the window, oldest first.
    - ``zone_id``: position rules — the zone of the open alert; ``peak``: speeding — the
      highest speed since it fired. ``pending_since`` of a stop rule: stopped since.
    - ``site``, ``device_id``, ``device_type``: context for transitions raised on a Tick.
    - ``episode``: threshold — (fired, resolved) of its last alert, so that a reading stored late
      is known to belong to it (alerts.engine.evaluate_late).

    A frozen dataclass rather than a model: one is replaced on most readings, and
    ``dataclasses.replace`` is several times cheaper than ``BaseModel.model_copy``. Pydantic
    still validates it when a saved state is loaded.
    """

    site: str | None = None
    device_id: str | None = None
    device_type: str | None = None
    last_ts: datetime | None = None
    pending_since: datetime | None = None
    firing: bool = False
    firing_since: datetime | None = None
    offline: bool = False
    points: tuple[tuple[datetime, float], ...] = ()
    zone_id: str | None = None
    peak: float | None = None
    episode: tuple[datetime, datetime] | None = None


class RuleState(_Frozen):
    """Subjects of one rule, with the rule's kind, name and severity when last written.

    The copy of name and severity lets the engine resolve alerts of a rule that was deleted;
    ``kind`` tells when a rule id was reused for another kind (its old state is then retired).
    """

    kind: str
    name: str
    severity: Severity
    subjects: dict[str, SubjectState] = Field(default_factory=dict)


class EngineState(_Frozen):
    """The whole evaluation state; save it with :meth:`to_json`, load it with :meth:`from_json`."""

    version: int
    rules: dict[str, RuleState] = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _supported(cls, v: int) -> int:
        if v != STATE_VERSION:
            raise ValueError(f"alert state version {v} is not supported (this build reads {STATE_VERSION})")
        return v

    @classmethod
    def empty(cls) -> EngineState:
        return cls(version=STATE_VERSION)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> EngineState:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise StateFormatError(f"saved alert state cannot be read: {exc}") from exc

    def subject(self, rule_id: str, subject: str) -> SubjectState | None:
        rule = self.rules.get(rule_id)
        return None if rule is None else rule.subjects.get(subject)

    def firing(self) -> list[tuple[str, str]]:
        """``(rule_id, subject)`` of every pair with an open alert, sorted: for reconciling with the store."""
        return sorted((rid, s) for rid, rs in self.rules.items() for s, st in rs.subjects.items() if st.firing)
