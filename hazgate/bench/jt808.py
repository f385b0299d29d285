"""`hazgate bench jt808`: terminals reporting over TCP, against a bare server's rate, same run.

On a fresh bench site of ``terminals`` provisioned trackers (half JT/T 808-2013, half 2019):
1. ceiling: a bare server (its own process, the same protocol module) answers every report at
   once and stores nothing; each terminal keeps ``window`` reports in flight for ``seconds``;
2. store: ``hazgate serve --role jt808`` (its own process) stores the same closed-loop load;
   reports/s counted from the rows, its ratio to the ceiling;
3. paced: every terminal sends one report per second for ``seconds``, as real terminals do;
   reports/s stored, p50/p99 from sending a report to its 0x8001 (sent only after the commit).
Lost: reports sent but not stored; duplicated: rows beyond one per (terminal, report time).
The closed-loop phases stamp reports one second apart from two days ago, so that every report
is a new reading; the rate limit per connection is lifted for the bench (real terminals send
one report a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg

from devices import registry
from gateway.jt808.errors import Jt808Error
from gateway.jt808.protocol import (
    Authenticate,
    Endpoint,
    FrameSplitter,
    Location,
    Message,
    PlatformResponse,
    Register,
    RegisterResponse,
    Version,
    decode_frame,
    decode_message,
    make_location,
)
from hazgate.bench.common import percentile, progress, service_env
from hazgate.errors import HazgateError
from hazgate.settings import Settings

PARK: Final = (29.958, 121.712)
ANSWER_TIMEOUT_S: Final = 30.0
START_TIMEOUT_S: Final = 30.0


class BenchError(HazgateError):
    pass


# --- terminals (asyncio) -------------------------------------------------------------------------


@dataclass
class AsyncTerminal:
    phone: str
    version: Version
    endpoint: Endpoint = field(init=False)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    waiting: dict[int, asyncio.Future[Message]] = field(default_factory=dict)
    listen: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.endpoint = Endpoint(self.phone, self.version, 1 if self.version is Version.V2019 else 0)

    async def open(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.listen = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        assert self.reader is not None
        splitter = FrameSplitter()
        while data := await self.reader.read(65536):
            for piece in splitter.feed(data):
                if isinstance(piece, Jt808Error):
                    continue
                packet = decode_frame(piece)
                message = decode_message(packet.header, packet.body)
                if isinstance(message, PlatformResponse | RegisterResponse):
                    future = self.waiting.pop(message.reply_serial, None)
                    if future is not None and not future.done():
                        future.set_result(message)

    async def request(self, message: Message) -> Message:
        assert self.writer is not None
        serial = self.endpoint.take_serial()
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.waiting[serial] = future
        self.writer.write(self.endpoint.frame_with_serial(message, serial))
        return await asyncio.wait_for(future, ANSWER_TIMEOUT_S)

    async def start(self, port: int) -> None:
        await self.open(port)
        answer = await self.request(Register(33, 2, "HZGTE", "bench", self.phone[-7:], 0, ""))
        if not isinstance(answer, RegisterResponse) or answer.result != 0:
            raise BenchError(f"terminal {self.phone} was refused registration: {answer}")
        auth = await self.request(Authenticate(answer.auth_code, "860000000000001", "bench"))
        if not isinstance(auth, PlatformResponse) or auth.result != 0:
            raise BenchError(f"terminal {self.phone} was refused authentication: {auth}")

    async def close(self) -> None:
        if self.listen is not None:
            self.listen.cancel()
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0
    failed: int = 0
    latencies_s: list[float] = field(default_factory=list)


def _report(ts: datetime, k: int) -> Location:
    return make_location(ts, PARK[0] + (k % 100) * 1e-5, PARK[1], speed_kmh=30.0, heading_deg=90, altitude_m=5)


async def _timed(terminal: AsyncTerminal, report: Location, tally: Tally) -> None:
    tally.sent += 1
    t0 = time.perf_counter()
    try:
        answer = await terminal.request(report)
    except (TimeoutError, ConnectionError, OSError):
        tally.failed += 1
        return
    if isinstance(answer, PlatformResponse) and answer.result == 0:
        tally.answered += 1
        tally.latencies_s.append(time.perf_counter() - t0)
    else:
        tally.failed += 1


async def _closed_loop(terminals: list[AsyncTerminal], seconds: float, window: int, base: datetime) -> Tally:
    """Each terminal keeps ``window`` reports in flight; report k of a terminal is stamped base + k s."""
    tally = Tally()
    end = time.monotonic() + seconds

    async def drive(terminal: AsyncTerminal, counter: list[int]) -> None:
        while time.monotonic() < end:
            k = counter[0]
            counter[0] += 1
            await _timed(terminal, _report(base + timedelta(seconds=k), k), tally)

    tasks = []
    for terminal in terminals:
        counter = [0]
        tasks += [asyncio.create_task(drive(terminal, counter)) for _ in range(window)]
    await asyncio.gather(*tasks)
    return tally


async def _paced(terminals: list[AsyncTerminal], seconds: int, base: datetime) -> Tally:
    """One report per terminal per second, terminals spread over the second."""
    tally = Tally()
    start = time.monotonic() + 0.5
    rng = random.Random(808)

    async def drive(terminal: AsyncTerminal, offset: float) -> None:
        pending = []
        for s in range(seconds):
            await asyncio.sleep(max(0.0, start + offset + s - time.monotonic()))
            pending.append(asyncio.create_task(_timed(terminal, _report(base + timedelta(seconds=s), s), tally)))
        await asyncio.gather(*pending)

    await asyncio.gather(*(drive(t, rng.random()) for t in terminals))
    return tally


async def _with_terminals(port: int, phones: list[str], run: Any) -> Tally:
    terminals = [AsyncTerminal(p, Version.V2019 if i % 2 else Version.V2013) for i, p in enumerate(phones)]
    try:
        await asyncio.gather(*(t.start(port) for t in terminals))
        result: Tally = await run(terminals)
        return result
    finally:
        await asyncio.gather(*(t.close() for t in terminals))


# --- the bare server (ceiling) ---------------------------------------------------------------------


def _bare_server(port: int, ready: Any) -> None:
    """Decode every frame with the protocol module and answer at once; store nothing."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        splitter, platform = FrameSplitter(), None
        while data := await reader.read(65536):
            out = []
            for piece in splitter.feed(data):
                if isinstance(piece, Jt808Error):
                    continue
                packet = decode_frame(piece)
                message = decode_message(packet.header, packet.body)
                h = packet.header
                platform = platform or Endpoint(h.phone, h.version, h.protocol_version)
                if isinstance(message, Register):
                    out.append(platform.frame(RegisterResponse(h.serial, 0, "bench-code")))
                else:
                    out.append(platform.frame(PlatformResponse(h.serial, h.msg_id, 0)))
            writer.write(b"".join(out))
            await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- the bench ------------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _provision(settings: Settings, count: int) -> tuple[str, list[str]]:
    site = f"bench-{uuid.uuid4().hex[:6]}"
    prefix = random.randrange(100, 999)
    phones = [f"1{prefix}{i:07d}" for i in range(count)]
    with psycopg.connect(settings.db_url) as conn:
        for i, phone in enumerate(phones):
            registry.add_device(conn, site, f"{site}-{i:04d}", "gps_tracker", None, jt808_phone=phone)
    return site, phones


def _remove(settings: Settings, site: str) -> None:
    with psycopg.connect(settings.db_url) as conn:
        conn.execute("DELETE FROM telemetry WHERE site = %s", (site,))
        conn.execute("DELETE FROM rejected WHERE device_id LIKE %s", (site + "-%",))
        conn.execute("DELETE FROM devices WHERE site = %s", (site,))  # and their jt808_terminals


def _stored(conn: psycopg.Connection, site: str, lo: datetime, hi: datetime) -> tuple[int, int, float, float]:
    """(rows, distinct readings, first and last received_at in Unix seconds) stamped in [lo, hi)."""
    row = conn.execute(
        "SELECT count(*), count(DISTINCT (device_id, ts)),"
        " extract(epoch FROM min(received_at)), extract(epoch FROM max(received_at))"
        " FROM telemetry WHERE site = %s AND ts >= %s AND ts < %s",
        (site, lo, hi),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), float(row[2] or 0), float(row[3] or 0)


def _service(settings: Settings, site: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **service_env(settings, site, "jt808"),
        "HAZGATE_JT808__PORT": str(port),
        # Closed-loop terminals send far more than a real one; the flood guard is not measured.
        "HAZGATE_JT808__RATE_LIMIT_PER_S": "1000000",
        "HAZGATE_JT808__RATE_BURST": "1000000",
    }
    cmd = [sys.executable, "-m", "hazgate.cli", "serve", "--role", "jt808"]
    return subprocess.Popen(cmd, env=env)


def _wait_listening(port: int, proc: subprocess.Popen[bytes] | mp.Process) -> None:
    import socket

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        alive = proc.poll() is None if isinstance(proc, subprocess.Popen) else proc.is_alive()
        if not alive:
            raise BenchError(
                "the JT/T 808 listener exited at start", hint="run `hazgate serve --role jt808` to see why"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise BenchError(f"nothing listens on 127.0.0.1:{port} after {START_TIMEOUT_S:g} s")


def run_jt808_bench(
    settings: Settings, *, terminals: int = 100, seconds: float = 10.0, window: int = 4
) -> dict[str, Any]:
    progress(f"provisioning {terminals} JT/T 808 trackers")
    site, phones = _provision(settings, terminals)
    base_store = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    paced_s = max(1, round(seconds))
    service = None
    try:
        progress(f"phase 1/3: ceiling, a bare server answers {seconds:g} s of closed-loop reports")
        port = _free_port()
        ready = mp.Event()
        bare = mp.Process(target=_bare_server, args=(port, ready), daemon=True)
        bare.start()
        if not ready.wait(START_TIMEOUT_S):
            raise BenchError("the bare JT/T 808 server did not start")
        t0 = time.monotonic()
        ceiling = asyncio.run(
            _with_terminals(port, phones, lambda ts: _closed_loop(ts, seconds, window, base_store - timedelta(days=1)))
        )
        ceiling_per_s = ceiling.answered / (time.monotonic() - t0)
        bare.terminate()
        bare.join(10)
        progress(f"  ceiling {ceiling_per_s:.0f} reports/s")

        port = _free_port()
        service = _service(settings, site, port)
        _wait_listening(port, service)
        progress(f"phase 2/3: store, `serve --role jt808` stores {seconds:g} s of the same load")
        t0_wall = time.time()
        store = asyncio.run(_with_terminals(port, phones, lambda ts: _closed_loop(ts, seconds, window, base_store)))
        with psycopg.connect(settings.db_url, autocommit=True) as conn:
            rows, distinct, _, last = _stored(conn, site, base_store, base_store + timedelta(days=1))
        max_per_s = distinct / max(last - t0_wall, 1e-9)
        progress(f"  stored {distinct}/{store.sent} reports, {max_per_s:.0f} reports/s")

        progress(f"phase 3/3: paced, {terminals} terminals report every second for {paced_s} s")
        base_paced = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=paced_s + 5)
        paced = asyncio.run(_with_terminals(port, phones, lambda ts: _paced(ts, paced_s, base_paced)))
        with psycopg.connect(settings.db_url, autocommit=True) as conn:
            p_rows, p_distinct, _, _ = _stored(conn, site, base_paced, base_paced + timedelta(seconds=paced_s))
    finally:
        if service is not None:
            service.terminate()
            service.wait(15)
        progress("removing the bench trackers and their readings")
        _remove(settings, site)
    latencies_ms = [s * 1000 for s in paced.latencies_s]
    return {
        "reports_per_s": round(p_distinct / paced_s, 1),
        "p50_ms": round(percentile(latencies_ms, 50), 1),
        "p99_ms": round(percentile(latencies_ms, 99), 1),
        "lost": (store.sent - distinct) + (paced.sent - p_distinct),
        "duplicated": (rows - distinct) + (p_rows - p_distinct),
        "max_reports_per_s": round(max_per_s),
        "ceiling_reports_per_s": round(ceiling_per_s),
        "ratio": round(max_per_s / ceiling_per_s, 3) if ceiling_per_s else None,
        "terminals": terminals,
        "seconds": paced_s,
        "window": window,
        "reports_sent": store.sent + paced.sent,
        "unanswered": store.failed + paced.failed,
        "protocol": "JT/T 808 over TCP, half 2013 half 2019, 0x0200 reports",
    }
