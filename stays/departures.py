"""A stay's end as an alert input: the one place hazgate emits ``VehicleLeft``.

Dwell (overstay) rules resolve on it. Every path that closes a stay (an exit gate's pass, an
officer's override of an exit inspection, an officer closing a stay) calls ``vehicle_left``
inside the transaction that closes the stay. Today it hands the event to the in-process alert
service's hook (role ``all``/``worker``); with a durable alert input stream it becomes
``alerts.inputs.record(conn, event)`` here, in the same transaction, and the hook goes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import psycopg

from alerts.events import VehicleLeft

logger = logging.getLogger(__name__)

AlertHook = Callable[[VehicleLeft], None]


def vehicle_left(
    conn: psycopg.Connection,  # noqa: ARG001 - the durable stream will write in this transaction
    *,
    plate: str,
    site: str,
    ts: datetime,
    gate_id: str | None,
    hook: AlertHook | None,
) -> VehicleLeft:
    left = VehicleLeft(plate=plate, site=site, ts=ts, gate_id=gate_id)
    if hook is not None:
        hook(left)
    else:
        logger.info("no alert evaluation in this process: %s leaving %s is not evaluated here", plate, site)
    return left


def alert_hook(service: object | None) -> AlertHook | None:
    """The in-process alert service's vehicle-left hook, or None without one."""
    on_vehicle_left = getattr(service, "on_vehicle_left", None)
    if on_vehicle_left is None:
        return None

    def hook(left: VehicleLeft) -> None:
        on_vehicle_left(left.plate, left.site, left.ts, left.gate_id)

    return hook
