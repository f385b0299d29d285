"""hazgate: hazardous-chemical tanker gate inspection and park monitoring."""

from __future__ import annotations

__version__ = "0.1.0"
