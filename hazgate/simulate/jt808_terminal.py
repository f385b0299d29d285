"""A JT/T 808 terminal over TCP (blocking sockets), built on the protocol module.

What the simulator's trackers and the story tests speak: register, authenticate, report,
heartbeat, and raw bytes for the tests that send broken frames. The benchmark's many
terminals use the asyncio twin in hazgate/bench/jt808.py.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from gateway.jt808.errors import Jt808Error
from gateway.jt808.protocol import (
    Authenticate,
    Endpoint,
    FrameSplitter,
    Heartbeat,
    Location,
    LocationBatch,
    Logout,
    Message,
    PlatformResponse,
    Register,
    RegisterResponse,
    Version,
    decode_frame,
    decode_message,
)

DEFAULT_TIMEOUT_S = 10.0


class TerminalError(Exception):
    pass


@dataclass
class Terminal:
    host: str
    port: int
    phone: str
    version: Version = Version.V2013
    plate: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    endpoint: Endpoint = field(init=False)
    auth_code: str | None = None
    _sock: socket.socket | None = field(default=None, init=False, repr=False)
    _splitter: FrameSplitter = field(default_factory=FrameSplitter, init=False, repr=False)
    _inbox: list[Message] = field(default_factory=list, init=False, repr=False)
    _authenticated: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        protocol_version = 1 if self.version is Version.V2019 else 0
        self.endpoint = Endpoint(self.phone, self.version, protocol_version)

    # -- connection ----------------------------------------------------------------------------
    @property
    def authenticated(self) -> bool:
        return self._sock is not None and self._authenticated

    def connect(self) -> Terminal:
        self._authenticated = False
        self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        self._splitter = FrameSplitter()
        self._inbox.clear()
        return self

    def close(self) -> None:
        self._authenticated = False
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Terminal:
        return self.connect()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def sock(self) -> socket.socket:
        if self._sock is None:
            raise TerminalError("not connected")
        return self._sock

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, message: Message) -> int:
        """Send one message; return its serial."""
        serial = self.endpoint.take_serial()
        self.send_raw(self.endpoint.frame_with_serial(message, serial))
        return serial

    def receive(self, timeout_s: float | None = None) -> Message:
        """The next message from the platform; TimeoutError when none comes, EOFError when closed."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.timeout_s)
        while not self._inbox:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the platform")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError("no answer from the platform") from None
            if not data:
                raise EOFError("the platform closed the connection")
            for piece in self._splitter.feed(data):
                if isinstance(piece, Jt808Error):
                    raise TerminalError(f"bad frame from the platform: {piece}")
                packet = decode_frame(piece)
                self._inbox.append(decode_message(packet.header, packet.body))
        return self._inbox.pop(0)

    def answer_to(self, serial: int, timeout_s: float | None = None) -> Message:
        """The platform's answer to our message ``serial`` (skipping answers to others)."""
        while True:
            message = self.receive(timeout_s)
            if isinstance(message, PlatformResponse | RegisterResponse) and message.reply_serial == serial:
                return message

    # -- the session --------------------------------------------------------------------------------
    def register(self, plate_color: int = 2) -> RegisterResponse:
        reg = Register(33, 2, "HZGTE", "HG-808", self.phone[-7:], plate_color if self.plate else 0, self.plate)
        answer = self.answer_to(self.send(reg))
        assert isinstance(answer, RegisterResponse)
        if answer.result == 0:
            self.auth_code = answer.auth_code
        return answer

    def authenticate(self, code: str | None = None) -> PlatformResponse:
        auth = code if code is not None else self.auth_code
        if auth is None:
            raise TerminalError("no auth code: register first")
        answer = self.answer_to(self.send(Authenticate(auth, "860000000000001", "hazgate-sim")))
        assert isinstance(answer, PlatformResponse)
        self._authenticated = answer.result == 0
        return answer

    def start(self) -> Terminal:
        """Connect, register (or reuse the code) and authenticate, as a terminal does at power-on."""
        self.connect()
        if self.auth_code is None:
            answer = self.register()
            if answer.result != 0:
                raise TerminalError(f"registration refused with result {answer.result}")
        if self.authenticate().result != 0:
            raise TerminalError("authentication refused")
        return self

    def report(self, location: Location | LocationBatch) -> PlatformResponse:
        answer = self.answer_to(self.send(location))
        assert isinstance(answer, PlatformResponse)
        return answer

    def heartbeat(self) -> PlatformResponse:
        answer = self.answer_to(self.send(Heartbeat()))
        assert isinstance(answer, PlatformResponse)
        return answer

    def logout(self) -> PlatformResponse:
        answer = self.answer_to(self.send(Logout()))
        assert isinstance(answer, PlatformResponse)
        return answer
