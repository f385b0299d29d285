"""Settings of browser sessions and rate limits (``HAZGATE_API__AUTH__*``); see docs/api.md."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AuthSettings(BaseModel):
    # Browsers send the session cookie only over HTTPS when set. Off by default because
    # `make run` serves plain HTTP on loopback; turn it on behind TLS.
    cookie_secure: bool = False
    # An officer's session ends after this much idleness, and after max_age_h regardless.
    session_idle_min: float = Field(12 * 60, gt=0)
    session_max_age_h: float = Field(7 * 24, gt=0)
    # Kiosks are unattended screens at the gate; their sessions last longer.
    kiosk_session_max_age_h: float = Field(90 * 24, gt=0)
    # Login: at most this many tries per client address per window, and this many failures
    # per user name per window (a guesser spread over many addresses still hits the second).
    login_per_ip: int = Field(20, ge=1)
    login_failures_per_user: int = Field(5, ge=1)
    login_window_s: float = Field(300.0, gt=0)
    # Face and ID-card images: a dashboard shows a few per inspection; bulk download is refused.
    face_images_per_user: int = Field(120, ge=1)
    face_window_s: float = Field(60.0, gt=0)
