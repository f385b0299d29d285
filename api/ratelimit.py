"""A sliding-window rate limiter kept in memory (one API process; see docs/api.md)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from api.auth_settings import AuthSettings

# Keys not touched for this many windows are forgotten, so memory stays bounded by the
# callers of the last few windows.
SWEEP_EVERY: Final = 1000


class RateLimiter:
    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._calls = 0

    def _window(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        return hits

    def retry_after(self, key: str) -> int | None:
        """Seconds to wait when the key is over its limit, else None (nothing is recorded)."""
        now = self.clock()
        hits = self._window(key, now)
        if len(hits) < self.limit:
            return None
        return max(1, math.ceil(hits[0] + self.window_s - now))

    def hit(self, key: str) -> int | None:
        """Record one use; returns the seconds to wait if this use is over the limit (not recorded)."""
        wait = self.retry_after(key)
        if wait is not None:
            return wait
        self._hits[key].append(self.clock())
        self._calls += 1
        if self._calls % SWEEP_EVERY == 0:
            self._sweep()
        return None

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)

    def _sweep(self) -> None:
        now = self.clock()
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]:
            del self._hits[key]


class Limits:
    """The limiters of one API process, built from its settings on first use."""

    def __init__(self, settings: AuthSettings) -> None:
        self.login_ip = RateLimiter(settings.login_per_ip, settings.login_window_s)
        self.login_user = RateLimiter(settings.login_failures_per_user, settings.login_window_s)
        self.face_user = RateLimiter(settings.face_images_per_user, settings.face_window_s)


def limits(app: Any) -> Limits:
    found: Limits | None = getattr(app.state, "limits", None)
    if found is None:
        found = app.state.limits = Limits(app.state.settings.api.auth)
    return found
