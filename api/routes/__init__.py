"""The API's route modules; each exposes `router`. Add a new module to ROUTERS."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import alerts, devices, inspections, rejected, rules, silences, subscriptions

ROUTERS: list[APIRouter] = [
    devices.router,
    rejected.router,
    inspections.router,
    # alerting (issue 5)
    alerts.router,
    rules.router,
    subscriptions.router,
    silences.router,
]
