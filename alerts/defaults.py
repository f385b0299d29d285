"""The default rule set a park starts from: definitions, and their rules for one site (pure).

The definitions are data (``hazgate/data/default_rules.json``, read by ``hazgate.rules``): each
has a ``key``, the ``source`` it follows, and a ``rule``, a ``POST /api/v1/rules`` body without
its site. ``rules_for_site`` adds the site and validates each with ``parse_rule``, exactly as
the API validates a body. A rule's id is derived from the site and the key, so installing twice
finds the rules of the first time (docs/alerts.md, "Default rule set").
"""

from __future__ import annotations

import uuid
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from alerts.models import Name, Rule, parse_rule

# Any constant works; it only has to stay the same, so ids stay the same across versions.
DEFAULT_RULES_NAMESPACE: Final = uuid.UUID("5b0d3c1e-6a7f-4e0b-9a55-2f1c0d7e4a10")

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


class DefaultRule(BaseModel):
    """One definition of the shipped file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: Key
    source: Annotated[str, StringConstraints(min_length=1)]
    rule: dict[str, JsonValue]


class DefaultRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    about: str = ""
    rules: Annotated[tuple[DefaultRule, ...], Field(min_length=1)]


class SiteRule(BaseModel):
    """A default rule bound to a site: its id, where it comes from, and the validated rule."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    key: str
    source: str
    rule: Rule


def default_rule_id(site: str, key: str) -> uuid.UUID:
    return uuid.uuid5(DEFAULT_RULES_NAMESPACE, f"{site}/{key}")


def rules_for_site(defaults: DefaultRules, site: Name) -> list[SiteRule]:
    """Every default rule with ``site`` set, validated as ``POST /api/v1/rules`` validates it.

    Raises ``pydantic.ValidationError`` naming the field (a bad site, a definition that is no
    longer a valid rule).
    """
    keys = [d.key for d in defaults.rules]
    if len(set(keys)) != len(keys):
        raise ValueError(f"default rule keys repeat: {sorted(k for k in keys if keys.count(k) > 1)}")
    return [
        SiteRule(id=default_rule_id(site, d.key), key=d.key, source=d.source, rule=parse_rule({**d.rule, "site": site}))
        for d in defaults.rules
    ]


__all__ = ["DefaultRule", "DefaultRules", "SiteRule", "default_rule_id", "rules_for_site"]
