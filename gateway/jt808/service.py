"""The JT/T 808 listener as a service: its own event loop in its own thread, start() and stop().

Inside ``hazgate serve`` (roles all, gateway, worker) the gateway starts it beside the MQTT
router and gives it the router's device cache and StoredBatch listeners, so readings from
terminals reach alert evaluation and the live pages exactly as MQTT readings do. ``hazgate
serve --role jt808`` runs it alone.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from gateway.device_cache import DeviceCache
from gateway.jt808.directory import TerminalDirectory
from gateway.jt808.server import Listener
from gateway.jt808.store import ReportStore
from hazgate.errors import ServiceError
from hazgate.settings import Settings
from ingest.storage import Storage, StoredListener
from ingest.writer import TelemetryWriter

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0


class Jt808Service:
    def __init__(
        self,
        settings: Settings,
        *,
        listeners: list[StoredListener] | None = None,
        devices: DeviceCache | None = None,
    ) -> None:
        self.settings = settings
        devices = devices if devices is not None else DeviceCache(settings.db_url)
        self._stop_storage = threading.Event()
        self.storage = Storage(
            TelemetryWriter(settings.db_url),
            devices.snapshot,
            listeners if listeners is not None else [],
            self._stop_storage,
        )
        self.store = ReportStore(self.storage, batch_size=settings.ingest.batch_size)
        self.directory = TerminalDirectory(settings.db_url)
        self.listener = Listener(settings.jt808, self.directory, self.store)
        self._thread = threading.Thread(target=self._run, name="hazgate-jt808", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one chosen when the setting is 0)."""
        return self.listener.port

    def start(self) -> None:
        self.store.start()
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise ServiceError("the JT/T 808 listener did not start in time")
        if self._error is not None:
            s = self.settings.jt808
            raise ServiceError(
                f"the JT/T 808 listener cannot listen on {s.host}:{s.port}: {self._error}",
                hint="set HAZGATE_JT808__PORT to a free port, or HAZGATE_JT808__ENABLED=false where another "
                "process already listens",
            ) from self._error

    def stop(self) -> None:
        """Stop accepting, close connections, store what was handed in, stop the writer."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(15)
        self.store.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start(), which raises it with a hint
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.directory.open()
        try:
            await self.listener.start()
            self._ready.set()
            await self._stop.wait()
            await self.listener.stop()
        finally:
            await self.directory.close()
