"""The JT/T 808 TCP listener: one asyncio task per terminal connection.

Per connection, frames are read and handled in order; answers go out in the same order from a
second task, so a location report can wait for its commit (its 0x8001 is sent only then) while
the next frames are already read: reports are pipelined up to ``max_pending_replies``, then
the connection is not read until storage catches up. Nothing one connection does holds up
another: every wait is per connection, and the database is reached only through the store's
queue and the directory's pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import psycopg
from psycopg_pool import PoolTimeout

from gateway.jt808.directory import Terminal, TerminalDirectory, stored_phone
from gateway.jt808.errors import Encrypted, Jt808Error
from gateway.jt808.protocol import (
    Authenticate,
    Endpoint,
    FrameSplitter,
    Header,
    Heartbeat,
    Location,
    LocationBatch,
    Logout,
    Message,
    PlatformMessage,
    PlatformResponse,
    Register,
    RegisterResponse,
    RegisterResult,
    Result,
    TerminalResponse,
    decode_frame,
    decode_message,
)
from gateway.jt808.readings import location_rows, refusal
from gateway.jt808.store import ReportStore, StoreItem
from gateway.jt808.subpackets import Reassembler
from gateway.validate import KnownDevice, Rejection, RejectReason
from hazgate.settings import Jt808Settings

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 65536
# At most one "too many connections" refusal recorded per this interval: a connection storm
# must not become a storm of rows.
REFUSED_CONNECTION_RECORD_S = 1.0
# A closing connection waits this long for answers still waiting on storage.
DRAIN_TIMEOUT_S = 10.0

Reply = PlatformMessage | Awaitable[PlatformMessage | None]


class TokenBucket:
    """``rate`` frames per second on average, ``burst`` at once. Pure: time is passed in."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def address(phone: str | None, msg_id: int | None) -> str:
    """What ``rejected.topic`` holds for a JT/T 808 refusal: ``jt808/13912345678/0x0200``."""
    who = (stored_phone(phone) or phone) if phone else "unknown"
    return f"jt808/{who}" if msg_id is None else f"jt808/{who}/0x{msg_id:04x}"


class Listener:
    def __init__(
        self,
        settings: Jt808Settings,
        directory: TerminalDirectory,
        store: ReportStore,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.store = store
        self.clock = clock
        self.port = settings.port
        self.stats: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._refused_recorded_at = -REFUSED_CONNECTION_RECORD_S

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.settings.host, self.settings.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        logger.info("JT/T 808 listener on %s:%d", self.settings.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        if len(self._connections) >= self.settings.max_connections:
            self.stats["refused_connections"] += 1
            now = self.clock()
            if now - self._refused_recorded_at >= REFUSED_CONNECTION_RECORD_S:
                self._refused_recorded_at = now
                detail = f"connection from {peer} refused: {self.settings.max_connections} terminals already connected"
                await self.record(refusal(RejectReason.TOO_MANY_CONNECTIONS, detail, "jt808/unknown", None))
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self.stats["connections"] += 1
        try:
            await Connection(self, reader, writer, peer).run()
        finally:
            self._connections.discard(task)

    async def record(self, *rejections: Rejection) -> None:
        for r in rejections:
            self.stats[r.reason.value] += 1
        await self.store.put(StoreItem(rejections=list(rejections)))


def _plate(plate: str) -> str:
    """Plates compare without blanks and with Latin letters upper-cased: 浙b 12345 = 浙B12345."""
    return "".join(plate.split()).upper()


def _peer(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    return f"{info[0]}:{info[1]}" if isinstance(info, tuple) and len(info) >= 2 else "unknown peer"


class Connection:
    """One terminal's connection: session state, framing, answers in order."""

    def __init__(
        self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        s = listener.settings
        self.listener = listener
        self.settings = s
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.splitter = FrameSplitter(s.max_frame_bytes)
        self.reassembler = Reassembler(timeout_s=s.subpacket_timeout_s)
        self.bucket = TokenBucket(s.rate_limit_per_s, s.rate_burst, listener.clock())
        self.platform: Endpoint | None = None  # our side, once the terminal's phone is known
        self.terminal: Terminal | None = None  # set by a successful authentication
        self.errors = 0
        self.auth_failures = 0
        self.closing = False
        self.replies: asyncio.Queue[Reply | None] = asyncio.Queue(s.max_pending_replies)

    # -- the two loops --------------------------------------------------------------------------
    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        try:
            await self._read_loop()
        except (ConnectionError, OSError) as exc:
            logger.debug("JT/T 808 connection %s broke: %s", self.peer, exc)
        finally:
            await self._finish(sender)

    async def _read_loop(self) -> None:
        while not self.closing:
            try:
                data = await asyncio.wait_for(self.reader.read(READ_CHUNK_BYTES), self.settings.idle_timeout_s)
            except TimeoutError:
                logger.info("JT/T 808 %s idle for %.0f s; closing", self.peer, self.settings.idle_timeout_s)
                return
            if not data:
                return
            for piece in self.splitter.feed(data):
                if not self.bucket.take(self.listener.clock()):
                    await self._flood()
                    return
                if isinstance(piece, Jt808Error):
                    await self._refuse(piece, b"")
                else:
                    await self._frame(piece)
                if self.closing:
                    return

    async def _send_loop(self) -> None:
        while (item := await self.replies.get()) is not None:
            message = item if isinstance(item, PlatformResponse | RegisterResponse) else await item
            if message is None or self.platform is None:
                continue
            try:
                self.writer.write(self.platform.frame(message))
                await self.writer.drain()
            except (ConnectionError, OSError):
                self.closing = True
                return

    async def _finish(self, sender: asyncio.Task[None]) -> None:
        self.closing = True
        with contextlib.suppress(asyncio.QueueFull):
            self.replies.put_nowait(None)
        if not sender.done():
            try:
                # Answers already waiting on storage still go out if the socket is open.
                await asyncio.wait_for(asyncio.shield(sender), DRAIN_TIMEOUT_S)
            except (TimeoutError, asyncio.CancelledError):
                sender.cancel()
        if self.terminal is not None:
            await self._status("offline")
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            await self.writer.wait_closed()

    # -- frames ---------------------------------------------------------------------------------
    async def _frame(self, raw: bytes) -> None:
        try:
            packet = decode_frame(raw)
        except Jt808Error as exc:
            await self._refuse(exc, raw)
            return
        header = packet.header
        if self.platform is None:
            self.platform = Endpoint(header.phone, header.version, header.protocol_version)
        elif header.phone != self.platform.phone and stored_phone(header.phone) != stored_phone(self.platform.phone):
            detail = f"phone {header.phone} on a connection of terminal {self.platform.phone}; dropped"
            await self._record(RejectReason.PHONE_MISMATCH, detail, header, raw)
            return
        else:
            self.platform.version, self.platform.protocol_version = header.version, header.protocol_version
        try:
            if header.encryption:
                raise Encrypted(
                    f"the body is encrypted (method {header.encryption:03b}); hazgate takes plain bodies only",
                    header=header,
                    hint="turn off the terminal's body encryption",
                )
            assembled, dropped = self.reassembler.add(packet, self.listener.clock())
        except Jt808Error as exc:
            await self._refuse(exc, raw)
            return
        for given_up in dropped:
            await self._refuse(given_up, b"")
        if assembled is None:
            # A sub-packet on its way: its receipt is answered, the message when it is whole.
            await self._reply(PlatformResponse(header.serial, header.msg_id, Result.OK))
            return
        whole = assembled.packet
        try:
            message = decode_message(whole.header, whole.body)
        except Jt808Error as exc:
            exc.header = Header(whole.header.msg_id, header.phone, assembled.last_serial, header.version)
            await self._refuse(exc, raw)
            return
        await self._dispatch(message, whole.header, assembled.last_serial, raw)

    async def _dispatch(self, message: Message, header: Header, serial: int, raw: bytes) -> None:
        if isinstance(message, Location | LocationBatch):
            await self._location(message, header, serial, raw)
        elif isinstance(message, Heartbeat):
            await self._reply(PlatformResponse(serial, header.msg_id, Result.OK))
        elif isinstance(message, TerminalResponse):
            pass  # hazgate sends no commands yet, so there is nothing to match it with
        elif isinstance(message, Register):
            await self._register(message, header, serial, raw)
        elif isinstance(message, Authenticate):
            await self._authenticate(message, header, serial, raw)
        elif isinstance(message, Logout):
            await self._logout(header, serial)
        else:  # a platform message sent by a terminal
            detail = f"message 0x{header.msg_id:04x} goes from platform to terminal, not the other way"
            await self._record(RejectReason.UNKNOWN_MESSAGE, detail, header, raw)
            await self._reply(PlatformResponse(serial, header.msg_id, Result.NOT_SUPPORTED))

    # -- session --------------------------------------------------------------------------------
    async def _lookup(self, header: Header) -> tuple[bool, Terminal | None]:
        """(reached the database, the terminal); when unreachable the frame is not answered,
        so the terminal sends it again."""
        phone = stored_phone(header.phone)
        if phone is None:
            return True, None
        try:
            return True, await self.listener.directory.find(phone)
        except (psycopg.Error, PoolTimeout) as exc:
            logger.warning("JT/T 808 terminal lookup failed (%s); %s is not answered", exc, self.peer)
            return False, None

    async def _register(self, reg: Register, header: Header, serial: int, raw: bytes) -> None:
        reached, terminal = await self._lookup(header)
        if not reached:
            return
        refused: tuple[RegisterResult, RejectReason, str] | None = None
        if terminal is None:
            detail = f"terminal phone {header.phone} is not provisioned"
            refused = RegisterResult.NO_SUCH_TERMINAL, RejectReason.UNKNOWN_TERMINAL, detail
        elif not terminal.device.enabled:
            detail = f"terminal phone {header.phone} belongs to disabled device {terminal.device.device_id!r}"
            refused = RegisterResult.NO_SUCH_TERMINAL, RejectReason.DEVICE_DISABLED, detail
        elif terminal.plate and reg.plate_color and _plate(reg.plate) != _plate(terminal.plate):
            detail = f"terminal reports plate {reg.plate!r}, it was provisioned on {terminal.plate!r}"
            refused = RegisterResult.NO_SUCH_VEHICLE, RejectReason.PLATE_MISMATCH, detail
        if refused is not None:
            result, reason, detail = refused
            await self._record(reason, f"registration refused (0x8100 result {result.value}): {detail}", header, raw)
            await self._reply(RegisterResponse(serial, result))
            return
        assert terminal is not None
        await self._reply(RegisterResponse(serial, RegisterResult.OK, terminal.auth_code))
        with contextlib.suppress(psycopg.Error, PoolTimeout):
            await self.listener.directory.registered(terminal.phone, header.version, reg)

    async def _authenticate(self, auth: Authenticate, header: Header, serial: int, raw: bytes) -> None:
        reached, terminal = await self._lookup(header)
        if not reached:
            return
        problem: tuple[RejectReason, str] | None = None
        if terminal is None:
            problem = RejectReason.UNKNOWN_TERMINAL, f"terminal phone {header.phone} is not provisioned"
        elif not terminal.device.enabled:
            problem = RejectReason.DEVICE_DISABLED, f"device {terminal.device.device_id!r} is disabled"
        elif not hmac.compare_digest(auth.auth_code.encode(), terminal.auth_code.encode()):
            problem = RejectReason.AUTH_FAILED, "wrong auth code"
        if problem is not None:
            self.auth_failures += 1
            reason, detail = problem
            await self._record(reason, f"authentication refused: {detail}", header, raw)
            await self._reply(PlatformResponse(serial, header.msg_id, Result.FAILURE))
            if self.auth_failures >= self.settings.max_auth_failures:
                self.closing = True
            return
        assert terminal is not None
        self.terminal = terminal
        await self._reply(PlatformResponse(serial, header.msg_id, Result.OK))
        await self._status("online")
        with contextlib.suppress(psycopg.Error, PoolTimeout):
            await self.listener.directory.authenticated(terminal.phone)

    async def _logout(self, header: Header, serial: int) -> None:
        await self._reply(PlatformResponse(serial, header.msg_id, Result.OK))
        if self.terminal is not None:
            await self._status("offline")
            with contextlib.suppress(psycopg.Error, PoolTimeout):
                await self.listener.directory.logged_out(self.terminal.phone)
            self.terminal = None

    async def _status(self, state: str) -> None:
        assert self.terminal is not None
        when = datetime.now(UTC)
        device = self.terminal.device
        await self.listener.store.put(StoreItem(statuses={device.device_id: (state, when)}, devices=self._devices()))

    # -- location reports -----------------------------------------------------------------------
    async def _location(self, message: Location | LocationBatch, header: Header, serial: int, raw: bytes) -> None:
        if self.terminal is None:
            detail = "a location report before authentication (0x0102); not stored"
            await self._record(RejectReason.NOT_AUTHENTICATED, detail, header, raw)
            await self._reply(PlatformResponse(serial, header.msg_id, Result.FAILURE))
            return
        locations = message.items if isinstance(message, LocationBatch) else (message,)
        rows, refused = location_rows(
            self.terminal.device,
            locations,
            address=address(header.phone, header.msg_id),
            frame=raw,
            now=datetime.now(UTC),
        )
        for r in refused:
            self.listener.stats[r.reason.value] += 1
        result = Result.MESSAGE_ERROR if refused and not rows else Result.OK
        answer = PlatformResponse(serial, header.msg_id, result)
        self.listener.stats["reports"] += len(locations)

        async def stored() -> PlatformMessage | None:
            # The answer only after the commit; if the listener stops first, none (the terminal resends).
            ok = await self.listener.store.store(StoreItem(rows=rows, rejections=refused, devices=self._devices()))
            return answer if ok else None

        await self._reply(asyncio.ensure_future(stored()))

    def _devices(self) -> dict[str, KnownDevice]:
        return {} if self.terminal is None else {self.terminal.device.device_id: self.terminal.device}

    # -- answers and refusals -------------------------------------------------------------------
    async def _reply(self, reply: Reply) -> None:
        await self.replies.put(reply)

    async def _refuse(self, exc: Jt808Error, raw: bytes) -> None:
        """Record a protocol error; answer it where the standard has an answer for it."""
        reason = RejectReason(exc.reason)
        detail = exc.message + (f" ({exc.hint})" if exc.hint else "")
        await self._record(reason, detail, exc.header, raw)
        if exc.result is not None and exc.header is not None and self.platform is not None:
            await self._reply(PlatformResponse(exc.header.serial, exc.header.msg_id, exc.result))

    async def _record(self, reason: RejectReason, detail: str, header: Header | None, raw: bytes) -> None:
        self.errors += 1
        phone = header.phone if header is not None else (self.platform.phone if self.platform else None)
        where = address(phone, header.msg_id if header is not None else None)
        device_id = self.terminal.device.device_id if self.terminal is not None else None
        await self.listener.record(refusal(reason, f"{detail} (from {self.peer})", where, device_id, raw))
        if self.errors >= self.settings.max_errors_per_connection and not self.closing:
            self.closing = True
            detail = f"{self.errors} refused frames on one connection; closed"
            await self.listener.record(
                refusal(RejectReason.TOO_MANY_ERRORS, f"{detail} (from {self.peer})", address(phone, None), device_id)
            )

    async def _flood(self) -> None:
        self.closing = True
        s = self.settings
        phone = self.platform.phone if self.platform else None
        device_id = self.terminal.device.device_id if self.terminal is not None else None
        detail = f"more than {s.rate_limit_per_s:g} frames/s (burst {s.rate_burst}) from {self.peer}; connection closed"
        await self.listener.record(refusal(RejectReason.FLOOD, detail, address(phone, None), device_id))
