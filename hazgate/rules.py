"""`hazgate rules install-defaults --site S`: the shipped default rule set, installed for a site.

Idempotent: each rule's id comes from the site and the rule's key (``alerts.defaults``), so a
second install finds the first one's rules and leaves them as they are; a default rule an
officer deleted stays deleted. The rules go into ``alert_rules`` as the API would put them (the
same validation, the same body), and the alert service picks them up at once (the table's
trigger notifies it).
"""

from __future__ import annotations

import json

import psycopg
from pydantic import BaseModel, ConfigDict

from alerts.defaults import DefaultRules, SiteRule, rules_for_site
from hazgate.data import default_rules_path


class InstalledRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    key: str
    name: str
    kind: str
    state: str  # installed (now), present (from before), deleted (by an officer: left deleted)
    source: str


class InstallReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    site: str
    rules: list[InstalledRule]

    def count(self, state: str) -> int:
        return sum(1 for r in self.rules if r.state == state)

    def summary(self) -> str:
        return (
            f"{self.count('installed')} default rule(s) installed for site {self.site}, "
            f"{self.count('present')} already there, {self.count('deleted')} deleted by an officer (left deleted)"
        )

    def human(self) -> str:
        lines = [self.summary()]
        lines += [f"  {r.state:9} {r.kind:12} {r.name}" for r in self.rules]
        return "\n".join(lines)


def load_default_rules() -> DefaultRules:
    return DefaultRules.model_validate_json(default_rules_path().read_text(encoding="utf-8"))


def install_default_rules(
    conn: psycopg.Connection, site: str, *, created_by: str, defaults: DefaultRules | None = None
) -> InstallReport:
    """Install the default rules for ``site`` that are not there yet (one transaction)."""
    wanted: list[SiteRule] = rules_for_site(defaults or load_default_rules(), site)
    out = []
    with conn.transaction():
        existing = {
            str(r[0]): r[1] is not None
            for r in conn.execute(
                "SELECT id, deleted_at FROM alert_rules WHERE id = ANY(%s)", ([r.id for r in wanted],)
            ).fetchall()
        }
        for r in wanted:
            state = "deleted" if existing.get(str(r.id)) else "present" if str(r.id) in existing else "installed"
            if state == "installed":
                body = r.rule.model_dump(mode="json", exclude_none=True)
                conn.execute(
                    "INSERT INTO alert_rules (id, body, created_by) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    (r.id, json.dumps(body, ensure_ascii=False), created_by),
                )
            out.append(
                InstalledRule(id=str(r.id), key=r.key, name=r.rule.name, kind=r.rule.kind, state=state, source=r.source)
            )
    return InstallReport(site=site, rules=out)


__all__ = ["InstallReport", "InstalledRule", "install_default_rules", "load_default_rules"]
