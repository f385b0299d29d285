"""The gateway role assembled: MQTT client → router → telemetry writer / gate event store, and
the JT/T 808 listener beside it, storing through the same path and telling the same listeners."""

from __future__ import annotations

import errno
import logging
import queue

from gateway.device_cache import DeviceCache
from gateway.gate_events import GateEventStore
from gateway.gate_pipeline import GatePipeline
from gateway.jt808.service import Jt808Service
from gateway.messages import InboundMessage
from gateway.mqtt_client import MqttGateway
from gateway.router import Router
from hazgate.errors import ServiceError
from hazgate.settings import Settings
from ingest.retention import RetentionJob
from ingest.writer import TelemetryWriter
from stays.blacklist import DEFAULT_LOOKUP, BlacklistLookup

logger = logging.getLogger(__name__)


def _address_in_use(exc: ServiceError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE


class GatewayService:
    def __init__(
        self, settings: Settings, *, client_id: str | None = None, blacklist: BlacklistLookup = DEFAULT_LOOKUP
    ) -> None:
        self.settings = settings
        self.inbox: queue.Queue[InboundMessage] = queue.Queue(settings.ingest.queue_max)
        self.mqtt = MqttGateway(settings, self.inbox, client_id=client_id)
        self.gate = GatePipeline(
            settings.db_url,
            self._publish,
            settings.faces,
            visit_timeout_s=settings.gate.visit_timeout_s,
            face_workers=settings.gate.face_workers,
            policy=settings.gate.check_policy(),
            blacklist=blacklist,
        )
        self.events = GateEventStore(settings.db_url, self.mqtt.ack, self.gate.on_event)
        self.router = Router(
            self.inbox,
            TelemetryWriter(settings.db_url),
            DeviceCache(settings.db_url),
            self.mqtt.ack,
            self.events,
            batch_size=settings.ingest.batch_size,
            flush_interval_s=settings.ingest.flush_interval_s,
            max_payload_bytes=settings.mqtt.max_payload_bytes,
            max_event_bytes=settings.mqtt.max_event_bytes,
        )
        # Terminals speaking JT/T 808 over TCP: the same device cache and StoredBatch listeners.
        self.jt808 = (
            Jt808Service(settings, listeners=self.router.listeners, devices=self.router.devices)
            if settings.jt808.enabled
            else None
        )
        self.retention = RetentionJob(
            settings.db_url, settings.ingest.retention_days, image_retention_days=settings.gate.image_retention_days
        )

    def _publish(self, topic: str, payload: bytes, retain: bool) -> None:
        self.mqtt.publish(topic, payload, qos=1, retain=retain)

    def start(self) -> None:
        self.retention.start()
        self.gate.start()
        self.events.start()
        self.router.start()
        if self.jt808 is not None:
            try:
                self.jt808.start()
            except ServiceError as exc:
                if not _address_in_use(exc):
                    raise
                # Two gateways with default settings on one host: the first serves the terminals,
                # this one MQTT only (it is not two installations sharing terminals by surprise).
                logger.warning("%s; this gateway runs without it: another process on this host serves them", exc)
                self.jt808.stop()
                self.jt808 = None
        self.mqtt.start()

    def stop(self) -> None:
        # The router flushes and acknowledges what it holds; anything still queued is left
        # unacknowledged for the broker to redeliver. Terminals get no 0x8001 for what the
        # JT/T 808 listener could not store, and send it again.
        if self.jt808 is not None:
            self.jt808.stop()
        self.router.stop()
        self.events.stop()
        self.gate.stop()
        self.mqtt.stop()
        self.retention.stop()
        stats = self.router.stats
        logger.info(
            "gateway %s stopped: %d messages received, %d readings stored",
            self.mqtt.client_id,
            stats.received,
            stats.readings_stored,
        )
