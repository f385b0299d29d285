"""Data files shipped inside the package (photos with their NOTICE, reference tables).

Found through the installed package, so an editable install, a wheel and a fresh clone all
see the same files; nothing here is read from outside the repository.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent


def faces_dir() -> Path:
    """Open photographs (see faces/NOTICE.md): demo crews and test fixtures."""
    return DATA_DIR / "faces"


def default_rules_path() -> Path:
    """The default alert rule set (``hazgate rules install-defaults``, docs/alerts.md)."""
    return DATA_DIR / "default_rules.json"
