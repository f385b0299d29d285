"""What the engine knows besides rules and state: the parks' layouts and the trackers' plates.

Loaded by the adapter with the rules (alerts/store.py ``load_config``) and handed to
:func:`alerts.engine.evaluate` as one frozen value; the engine only reads it. A new layout
version or a tracker's plate changing bumps the configuration version (migration 0013), so the
adapter reloads it like a rule change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from park.layout import Layout


def _frozen_map() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class EngineContext:
    """``layouts``: site → its current layout; ``plates``: device id → plate of the vehicle it is on."""

    layouts: Mapping[str, Layout] = field(default_factory=lambda: MappingProxyType({}))
    plates: Mapping[str, str] = field(default_factory=_frozen_map)

    @classmethod
    def of(cls, layouts: Mapping[str, Layout], plates: Mapping[str, str]) -> EngineContext:
        """A context over read-only copies of the given maps."""
        return cls(MappingProxyType(dict(layouts)), MappingProxyType(dict(plates)))


EMPTY_CONTEXT: Final = EngineContext()
