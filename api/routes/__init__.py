"""The API's route modules; each exposes `router`. Add a new module to ROUTERS."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    alerts,
    auth,
    blacklist,
    bookings,
    devices,
    images,
    index,
    inspections,
    live,
    overview,
    park,
    queue,
    rejected,
    response,
    rules,
    silences,
    subscriptions,
    users,
    visits,
)

ROUTERS: list[APIRouter] = [
    devices.router,
    rejected.router,
    inspections.router,
    # alerting (issue 5)
    alerts.router,
    rules.router,
    subscriptions.router,
    silences.router,
    # people, pages' data and live feed (issue 6)
    auth.router,
    users.router,
    images.router,
    overview.router,
    live.router,
    # emergency response, black and watch lists, risk index (issue 13)
    response.router,
    blacklist.blacklist_router,
    blacklist.watchlist_router,
    index.router,
    # the park's layout and the vehicles on it (issue 11)
    park.router,
    # the tanker's whole stay (issue 11)
    bookings.router,
    visits.router,
    queue.router,
]
