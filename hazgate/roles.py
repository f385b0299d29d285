"""The composition root: what a hazgate process runs, by role.

``build_process(settings, role)`` assembles the background parts of a role; the API (roles ``all``
and ``api``) is the FastAPI app around them (api/app.py starts and stops the process in its
lifespan). ``hazgate serve`` and the test fixtures build processes here too, so every way of
running hazgate wires the same parts the same way.

| role        | gateway (MQTT ingest, gate pipeline, JT/T 808 listener) | alert evaluation + delivery | API |
| ----------- | ------------------------------------------------------- | --------------------------- | --- |
| `all`       | yes                                                     | yes                         | yes |
| `api`       |                                                         |                             | yes |
| `gateway`   | yes                                                     |                             |     |
| `worker`    | yes                                                     | yes                         |     |
| `evaluator` |                                                         | yes                         |     |
| `jt808`     | the JT/T 808 listener only                              |                             |     |

Any number of processes of any role may run against one database and broker: gateways share the
broker's `$share` group, evaluators split the partitions of the stored stream between them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, get_args

from hazgate.errors import ConfigError
from hazgate.settings import Settings

if TYPE_CHECKING:  # imported when a role needs them: an evaluator loads no face models
    from alerts.delivery import DeliveryWorkers
    from alerts.evaluator import Evaluator
    from gateway.jt808.service import Jt808Service
    from gateway.service import GatewayService
    from stays.blacklist import BlacklistLookup

logger = logging.getLogger(__name__)

Role = Literal["all", "api", "gateway", "worker", "evaluator", "jt808"]
ROLES: Final[tuple[str, ...]] = get_args(Role)
WITH_GATEWAY: Final = frozenset({"all", "gateway", "worker"})
WITH_ALERTS: Final = frozenset({"all", "worker", "evaluator"})
WITH_API: Final = frozenset({"all", "api"})


@dataclass
class Process:
    """The background parts of one process; ``start`` and ``stop`` them in the right order."""

    role: str
    gateway: GatewayService | None = None
    evaluator: Evaluator | None = None
    delivery: DeliveryWorkers | None = None
    jt808: Jt808Service | None = None  # role jt808 alone (the gateway runs its own otherwise)

    def start(self) -> None:
        # Delivery needs nothing loaded (it reads each subscription as stored when it sends);
        # evaluation reads the stored stream, so it may start before or after the gateway.
        if self.delivery is not None:
            self.delivery.start()
        if self.evaluator is not None:
            self.evaluator.start()
        if self.gateway is not None:
            self.gateway.start()
        if self.jt808 is not None:
            self.jt808.start()

    def stop(self, *, crash: bool = False) -> None:
        """Stop the gateway first (its last batch is stored), then evaluation (which evaluates
        what is stored and saves), then delivery. ``crash``: evaluation leaves without saving."""
        if self.jt808 is not None:
            self.jt808.stop()
        if self.gateway is not None:
            self.gateway.stop()
        if self.evaluator is not None:
            self.evaluator.stop(drain=not crash)
        if self.delivery is not None:
            self.delivery.stop()


def build_process(settings: Settings, role: str, *, blacklist: BlacklistLookup | None = None) -> Process:
    """The background parts of ``role``. ``blacklist``: the gate's lookup of listed subjects
    (the park's black list by default; tests swap it)."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"use one of: {', '.join(ROLES)}")
    process = Process(role)
    if role == "jt808":
        from gateway.jt808.service import Jt808Service

        process.jt808 = Jt808Service(settings)
    if role in WITH_GATEWAY:
        from gateway.service import GatewayService

        process.gateway = (
            GatewayService(settings) if blacklist is None else GatewayService(settings, blacklist=blacklist)
        )
    if role in WITH_ALERTS:
        from alerts.delivery import DeliveryWorkers
        from alerts.evaluator import Evaluator
        from alerts.urlcheck import UrlPolicy

        cfg = settings.alerts
        policy = UrlPolicy(allow_loopback=cfg.allow_loopback_webhooks, allow_private=cfg.allow_private_webhooks)
        delivery = DeliveryWorkers(settings, policy)
        process.delivery = delivery
        process.evaluator = Evaluator(settings, role=role, on_outbox=delivery.wake)
    return process
