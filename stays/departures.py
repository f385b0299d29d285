"""A stay's end as an alert input: the one place hazgate emits ``VehicleLeft``.

Dwell (overstay) rules resolve on it. Every path that closes a stay (an exit gate's pass, an
officer's override of an exit inspection, an officer closing a stay) calls ``vehicle_left``
inside the transaction that closes the stay, which records the input in that same transaction
(``alerts.inputs.record``): the stay closes and the alert input is stored together, or neither,
and the evaluator owning the plate's partition reads it from the stored stream.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from alerts import inputs
from alerts.events import VehicleLeft


def vehicle_left(
    conn: psycopg.Connection,
    *,
    plate: str,
    site: str,
    ts: datetime,
    gate_id: str | None,
) -> VehicleLeft:
    """Record that the vehicle left, in the caller's transaction."""
    left = VehicleLeft(plate=plate, site=site, ts=ts, gate_id=gate_id)
    inputs.record(conn, left)
    return left
