"""Gate decisions into alert evaluation: a failed inspection, a tanker let in (for dwell rules).

The gate republishes a visit's decision after every late event; only a change of result is
forwarded, so a rule sees each failure, and each entry, once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from alerts.service import AlertService
from gateway.gate_pipeline import InspectionUpdate

logger = logging.getLogger(__name__)

# Visits remembered to recognise a repeated decision; a gate sees far fewer in a day.
REMEMBERED = 10_000


class GateAlertBridge:
    def __init__(self, alerts: AlertService) -> None:
        self.alerts = alerts
        self._last: OrderedDict[str, str] = OrderedDict()

    def __call__(self, update: InspectionUpdate) -> None:
        if not update.final or self._last.get(update.inspection_id) == update.result:
            return
        self._last[update.inspection_id] = update.result
        self._last.move_to_end(update.inspection_id)
        while len(self._last) > REMEMBERED:
            self._last.popitem(last=False)
        if update.plate is None:
            return
        if update.result == "fail":
            self.alerts.on_inspection_failed(
                update.inspection_id,
                update.plate,
                update.site,
                update.gate_id,
                update.at,
                update.failed_checks,
                update.reasons,
            )
        elif update.result == "pass" and update.direction != "exit":  # an exit's pass is VehicleLeft (stays/)
            self.alerts.on_vehicle_entered(update.plate, update.site, update.at, update.gate_id, update.inspection_id)
