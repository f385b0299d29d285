"""The API's route modules; each exposes `router`. Add a new module to ROUTERS."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import devices, inspections, rejected

ROUTERS: list[APIRouter] = [devices.router, rejected.router, inspections.router]
