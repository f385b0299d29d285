"""JT/T 808-2013 and JT/T 808-2019 on the wire: pure encode and decode, typed frozen messages.

A frame is ``0x7e | header | body | check code | 0x7e``. Inside the flags 0x7e is sent as
``0x7d 0x02`` and 0x7d as ``0x7d 0x01``; the check code is the XOR of header and body, taken
before escaping. Words are big-endian. The header:

=========================  ==========  ==========================================
field                      2013        2019
=========================  ==========  ==========================================
message id                 WORD        WORD
message properties         WORD        WORD (bit 14, the version flag, set)
protocol version           --          BYTE (1 for the 2019 text)
terminal phone             BCD[6]      BCD[10]
message serial             WORD        WORD
sub-packet total, index    WORD, WORD  WORD, WORD (only when property bit 13 is set)
=========================  ==========  ==========================================

Properties: bits 0-9 body length, bits 10-12 encryption (0: none, bit 10: RSA), bit 13
sub-packets, bit 14 version flag (2019). No I/O here: :class:`FrameSplitter` cuts a byte stream
into frames, :func:`decode_frame` checks and parses one, :func:`decode_message` reads its body,
:func:`encode_frame` builds one. Malformed input raises a :mod:`gateway.jt808.errors` error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Final

from gateway.jt808.errors import (
    BadCheckCode,
    BadEscape,
    BadHeader,
    BadLength,
    BodyTooShort,
    FrameTooLarge,
    Jt808Error,
    Junk,
    MalformedBody,
    Truncated,
    UnknownMessage,
)
from gateway.jt808.flags import Status

FLAG: Final = 0x7E
ESC: Final = 0x7D
MAX_BODY_BYTES: Final = 0x3FF  # ten bits of body length
# Header + 1023-byte body + check code, every byte escaped, plus both flags.
MAX_ENCODED_FRAME_BYTES: Final = 2 * (21 + MAX_BODY_BYTES + 1) + 2
# Location times are Beijing time (GMT+8) in the standard.
CHINA_TZ: Final = timezone(timedelta(hours=8), "UTC+08:00")
PROTOCOL_VERSION_2019: Final = 1

_PROP_LENGTH: Final = 0x03FF
_PROP_ENCRYPTION_SHIFT: Final = 10
_PROP_SUBPACKETS: Final = 1 << 13
_PROP_VERSION: Final = 1 << 14


class Version(IntEnum):
    V2013 = 2013
    V2019 = 2019


class MsgId(IntEnum):
    TERMINAL_RESPONSE = 0x0001
    HEARTBEAT = 0x0002
    LOGOUT = 0x0003
    REGISTER = 0x0100
    AUTHENTICATE = 0x0102
    LOCATION = 0x0200
    LOCATION_BATCH = 0x0704
    PLATFORM_RESPONSE = 0x8001
    REGISTER_RESPONSE = 0x8100


class Result(IntEnum):
    """0x8001 / 0x0001 result byte."""

    OK = 0
    FAILURE = 1
    MESSAGE_ERROR = 2
    NOT_SUPPORTED = 3
    ALARM_CONFIRMED = 4


class RegisterResult(IntEnum):
    """0x8100 result byte."""

    OK = 0
    VEHICLE_TAKEN = 1  # the vehicle is already registered
    NO_SUCH_VEHICLE = 2
    TERMINAL_TAKEN = 3
    NO_SUCH_TERMINAL = 4


# --- primitives ----------------------------------------------------------------------------------


def escape(data: bytes) -> bytes:
    """0x7d → 0x7d 0x01 first, then 0x7e → 0x7d 0x02 (the order matters)."""
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(data: bytes) -> bytes:
    """The inverse of :func:`escape` in one pass; 0x7d followed by anything but 0x01/0x02 is an error."""
    if ESC not in data:
        return data
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        j = data.find(ESC, i)
        if j < 0:
            out += data[i:]
            break
        out += data[i:j]
        if j + 1 >= n:
            raise BadEscape("the frame ends in the middle of an escape (0x7d as its last byte)")
        nxt = data[j + 1]
        if nxt == 0x01:
            out.append(ESC)
        elif nxt == 0x02:
            out.append(FLAG)
        else:
            raise BadEscape(f"0x7d followed by 0x{nxt:02x} at byte {j}: only 0x7d 0x01 and 0x7d 0x02 exist")
        i = j + 2
    return bytes(out)


def check_code(data: bytes) -> int:
    """XOR of every byte (header and body)."""
    code = 0
    for b in data:
        code ^= b
    return code


def bcd_decode(data: bytes) -> str:
    """BCD digits as a string; a nibble above 9 raises ValueError."""
    text = data.hex()
    if not text.isdigit():
        raise ValueError(f"{text} is not BCD")
    return text


def bcd_encode(digits: str, size: int) -> bytes:
    """``digits`` left-padded with zeros to ``size`` bytes of BCD."""
    if not digits.isdigit() or not digits.isascii() or len(digits) > 2 * size:
        raise ValueError(f"{digits!r} is not at most {2 * size} decimal digits")
    return bytes.fromhex(digits.rjust(2 * size, "0"))


def _string(data: bytes) -> str:
    """A STRING field: GBK, padding (NUL, and spaces some terminals use) stripped."""
    return data.rstrip(b"\x00 ").decode("gbk", errors="replace")


def _fixed(text: str, size: int) -> bytes:
    raw = text.encode("gbk")
    if len(raw) > size:
        raise ValueError(f"{text!r} is longer than {size} bytes")
    return raw.ljust(size, b"\x00")


# --- header and frames ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    phone: str  # the BCD digits as sent: 12 (2013) or 20 (2019), zero-padded on the left
    serial: int
    version: Version = Version.V2013
    protocol_version: int = 0  # 2019 only
    encryption: int = 0
    body_length: int = 0
    subpacket: tuple[int, int] | None = None  # (total, index from 1)

    @property
    def size(self) -> int:
        base = 12 if self.version is Version.V2013 else 17
        return base + (4 if self.subpacket else 0)


@dataclass(frozen=True, slots=True)
class Packet:
    """A frame that passed its check code: header and (still undecoded) body."""

    header: Header
    body: bytes


def _parse_header(data: bytes) -> Header:
    """The header at the start of ``data`` (unescaped, check code included at the end)."""
    if len(data) < 4:
        raise Truncated(f"a frame of {len(data)} bytes has no room for a header")
    msg_id, props = struct.unpack_from(">HH", data)
    version = Version.V2019 if props & _PROP_VERSION else Version.V2013
    subpackets = bool(props & _PROP_SUBPACKETS)
    base = 12 if version is Version.V2013 else 17
    size = base + (4 if subpackets else 0)
    if len(data) < size + 1:
        raise Truncated(f"a {version.value} frame of {len(data)} bytes is shorter than its {size}-byte header")
    if version is Version.V2013:
        protocol_version, phone_raw, serial = 0, data[4:10], struct.unpack_from(">H", data, 10)[0]
    else:
        protocol_version, phone_raw, serial = data[4], data[5:15], struct.unpack_from(">H", data, 15)[0]
    subpacket = struct.unpack_from(">HH", data, base) if subpackets else None
    try:
        phone = bcd_decode(phone_raw)
    except ValueError:
        raise BadHeader(f"terminal phone {phone_raw.hex()} is not BCD digits") from None
    return Header(
        msg_id=msg_id,
        phone=phone,
        serial=serial,
        version=version,
        protocol_version=protocol_version,
        encryption=(props >> _PROP_ENCRYPTION_SHIFT) & 0b111,
        body_length=props & _PROP_LENGTH,
        subpacket=subpacket,
    )


def _try_header(data: bytes) -> Header | None:
    """The header of an unescaped frame if it can be read at all, trusted or not (to name the
    terminal of a frame that fails its check code)."""
    try:
        return _parse_header(data)
    except Jt808Error:
        return None


def peek_header(raw: bytes) -> Header | None:
    """:func:`_try_header` of an escaped frame."""
    try:
        return _try_header(unescape(raw))
    except Jt808Error:
        return None


def decode_frame(raw: bytes) -> Packet:
    """Unescape, verify the check code and parse the header of one frame (without its flags)."""
    data = unescape(raw)
    if len(data) < 13:
        raise Truncated(f"a frame of {len(data)} bytes is shorter than the smallest header and check code")
    expected = check_code(data[:-1])
    if data[-1] != expected:
        raise BadCheckCode(
            f"check code 0x{data[-1]:02x}, but the header and body XOR to 0x{expected:02x}",
            header=_try_header(data),
        )
    header = _parse_header(data)
    if header.subpacket is not None:
        total, index = header.subpacket
        if total == 0 or not 1 <= index <= total:
            raise BadHeader(f"sub-packet {index} of {total} is out of range", header=header)
    body = data[header.size : -1]
    if len(body) < header.body_length:
        raise Truncated(
            f"the header declares a {header.body_length}-byte body, the frame holds {len(body)}", header=header
        )
    if len(body) > header.body_length:
        raise BadLength(
            f"the header declares a {header.body_length}-byte body, the frame holds {len(body)}", header=header
        )
    return Packet(header, body)


def encode_frame(header: Header, body: bytes) -> bytes:
    """A complete frame, flags included; the header's body_length is taken from ``body``."""
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(f"a body of {len(body)} bytes needs sub-packets (at most {MAX_BODY_BYTES} per frame)")
    if not 0 <= header.encryption <= 0b111:
        raise ValueError(f"encryption {header.encryption} does not fit in three bits")
    props = len(body) | header.encryption << _PROP_ENCRYPTION_SHIFT
    if header.subpacket is not None:
        props |= _PROP_SUBPACKETS
    if header.version is Version.V2019:
        props |= _PROP_VERSION
        head = struct.pack(">HHB", header.msg_id, props, header.protocol_version)
        head += bcd_encode(header.phone, 10) + struct.pack(">H", header.serial & 0xFFFF)
    else:
        head = struct.pack(">HH", header.msg_id, props) + bcd_encode(header.phone, 6)
        head += struct.pack(">H", header.serial & 0xFFFF)
    if header.subpacket is not None:
        head += struct.pack(">HH", *header.subpacket)
    data = head + body
    return bytes([FLAG]) + escape(data + bytes([check_code(data)])) + bytes([FLAG])


class FrameSplitter:
    """Cuts a TCP byte stream into frames (the escaped bytes between two 0x7e), pure.

    :meth:`feed` returns, in order, each frame's bytes and each framing problem as an error
    object (not raised): :class:`Junk` for bytes before the first flag, :class:`FrameTooLarge`
    for a frame growing past ``max_frame_bytes`` (its bytes are skipped up to the next flag).
    An end flag may also open the next frame: ``7e A 7e 7e B 7e`` and ``7e A 7e B 7e`` both give
    A and B.
    """

    def __init__(self, max_frame_bytes: int = MAX_ENCODED_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._started = False
        self._skipping = False

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | Jt808Error]:
        out: list[bytes | Jt808Error] = []
        pos, n = 0, len(data)
        if not self._started:
            first = data.find(FLAG)
            if first < 0:
                if data:
                    out.append(Junk(f"{n} bytes before any 0x7e frame flag"))
                return out
            if first:
                out.append(Junk(f"{first} bytes before the first 0x7e frame flag"))
            self._started = True
            pos = first + 1
        while pos < n:
            end = data.find(FLAG, pos)
            if end < 0:
                if not self._skipping:
                    self._buf += data[pos:]
                    if len(self._buf) > self.max_frame_bytes:
                        out.append(FrameTooLarge(f"no closing 0x7e within {self.max_frame_bytes} bytes"))
                        self._buf.clear()
                        self._skipping = True
                break
            if self._skipping:
                self._skipping = False
            else:
                self._buf += data[pos:end]
                if len(self._buf) > self.max_frame_bytes:
                    out.append(FrameTooLarge(f"a frame of {len(self._buf)} bytes, over {self.max_frame_bytes}"))
                elif self._buf:
                    out.append(bytes(self._buf))
            self._buf.clear()
            pos = end + 1
        return out


# --- messages --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TerminalResponse:
    """0x0001: the terminal's answer to a platform message."""

    reply_serial: int
    reply_id: int
    result: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """0x0002."""


@dataclass(frozen=True, slots=True)
class Logout:
    """0x0003."""


@dataclass(frozen=True, slots=True)
class Register:
    """0x0100. Field widths differ by version: manufacturer 5/11, model 20/30, terminal id 7/30 bytes."""

    province: int
    city: int
    manufacturer: str
    model: str
    terminal_id: str
    plate_color: int  # 0: not yet plated (then ``plate`` is the VIN)
    plate: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    """0x0102. 2013: the auth code is the whole body. 2019: length, code, IMEI[15], software version[20]."""

    auth_code: str
    imei: str = ""
    software_version: str = ""


@dataclass(frozen=True, slots=True)
class ExtraItem:
    """An additional information item of a location report, kept as sent."""

    item_id: int
    data: bytes


EXTRA_MILEAGE: Final = 0x01  # DWORD, 1/10 km


@dataclass(frozen=True, slots=True)
class Location:
    """0x0200 body, field for field as on the wire; the properties give values in our units."""

    alarm: int
    status: int
    lat_e6: int  # degrees x 10^6, unsigned; the hemisphere is in the status word
    lon_e6: int
    altitude_m: int
    speed_01kmh: int  # 1/10 km/h
    heading_deg: int  # 0-359, clockwise from north
    time_bcd: bytes  # YYMMDDhhmmss, GMT+8
    extras: tuple[ExtraItem, ...] = ()

    @property
    def positioned(self) -> bool:
        return bool(self.status & Status.POSITIONED)

    @property
    def lat(self) -> float:
        return -self.lat_e6 / 1e6 if self.status & Status.SOUTH else self.lat_e6 / 1e6

    @property
    def lon(self) -> float:
        return -self.lon_e6 / 1e6 if self.status & Status.WEST else self.lon_e6 / 1e6

    @property
    def speed_kmh(self) -> float:
        return self.speed_01kmh / 10

    @property
    def time(self) -> datetime | None:
        """The report time (aware, GMT+8), or None when the BCD is not a valid date."""
        return bcd_time(self.time_bcd)

    @property
    def mileage_km(self) -> float | None:
        for item in self.extras:
            if item.item_id == EXTRA_MILEAGE and len(item.data) == 4:
                return int.from_bytes(item.data, "big") / 10
        return None


@dataclass(frozen=True, slots=True)
class LocationBatch:
    """0x0704: several location reports; ``kind`` 0 regular batch, 1 blind-area catch-up."""

    kind: int
    items: tuple[Location, ...]


@dataclass(frozen=True, slots=True)
class PlatformResponse:
    """0x8001: the platform's answer to a terminal message."""

    reply_serial: int
    reply_id: int
    result: int


@dataclass(frozen=True, slots=True)
class RegisterResponse:
    """0x8100; ``auth_code`` only with result 0."""

    reply_serial: int
    result: int
    auth_code: str = ""


TerminalMessage = TerminalResponse | Heartbeat | Logout | Register | Authenticate | Location | LocationBatch
PlatformMessage = PlatformResponse | RegisterResponse
Message = TerminalMessage | PlatformMessage

MESSAGE_IDS: Final[dict[type[Message], MsgId]] = {
    TerminalResponse: MsgId.TERMINAL_RESPONSE,
    Heartbeat: MsgId.HEARTBEAT,
    Logout: MsgId.LOGOUT,
    Register: MsgId.REGISTER,
    Authenticate: MsgId.AUTHENTICATE,
    Location: MsgId.LOCATION,
    LocationBatch: MsgId.LOCATION_BATCH,
    PlatformResponse: MsgId.PLATFORM_RESPONSE,
    RegisterResponse: MsgId.REGISTER_RESPONSE,
}


def bcd_time(raw: bytes) -> datetime | None:
    try:
        digits = bcd_decode(raw)
        yy, mo, dd, hh, mi, ss = (int(digits[i : i + 2]) for i in range(0, 12, 2))
        return datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=CHINA_TZ)
    except ValueError:
        return None


def time_bcd(ts: datetime) -> bytes:
    """An aware time as BCD[6] in GMT+8 (the standard's years 2000-2099)."""
    local = ts.astimezone(CHINA_TZ)
    if not 2000 <= local.year <= 2099:
        raise ValueError(f"{ts.isoformat()} is outside the years BCD[6] can hold (2000-2099)")
    return bytes.fromhex(local.strftime("%y%m%d%H%M%S"))


def make_location(
    ts: datetime,
    lat: float,
    lon: float,
    *,
    speed_kmh: float = 0.0,
    heading_deg: int = 0,
    altitude_m: int = 0,
    alarm: int = 0,
    status: int = Status.ACC_ON | Status.POSITIONED | Status.GPS,
    mileage_km: float | None = None,
) -> Location:
    """A location report from values in our units (what terminals in tests and the simulator send)."""
    status &= ~(Status.SOUTH | Status.WEST)
    if lat < 0:
        status |= Status.SOUTH
    if lon < 0:
        status |= Status.WEST
    extras: tuple[ExtraItem, ...] = ()
    if mileage_km is not None:
        extras = (ExtraItem(EXTRA_MILEAGE, round(mileage_km * 10).to_bytes(4, "big")),)
    return Location(
        alarm=alarm,
        status=int(status),
        lat_e6=round(abs(lat) * 1e6),
        lon_e6=round(abs(lon) * 1e6),
        altitude_m=altitude_m,
        speed_01kmh=round(speed_kmh * 10),
        heading_deg=heading_deg,
        time_bcd=time_bcd(ts),
        extras=extras,
    )


# --- bodies: decode --------------------------------------------------------------------------------

_LOCATION: Final = struct.Struct(">IIIIHHH6s")
_REGISTER_WIDTHS: Final = {Version.V2013: (5, 20, 7), Version.V2019: (11, 30, 30)}
_IMEI_BYTES: Final = 15
_SOFTWARE_VERSION_BYTES: Final = 20


def _need(body: bytes, size: int, what: str) -> None:
    if len(body) < size:
        raise BodyTooShort(f"{what} needs at least {size} bytes, the body has {len(body)}")


def _decode_location(body: bytes, what: str = "a location report (0x0200)") -> Location:
    _need(body, _LOCATION.size, what)
    alarm, status, lat, lon, alt, speed, heading, when = _LOCATION.unpack_from(body)
    extras = []
    pos = _LOCATION.size
    while pos < len(body):
        if pos + 2 > len(body):
            raise MalformedBody(f"{what}: an extra item header at byte {pos} runs past the end of the body")
        item_id, size = body[pos], body[pos + 1]
        if pos + 2 + size > len(body):
            raise MalformedBody(
                f"{what}: extra item 0x{item_id:02x} of {size} bytes at byte {pos} runs past the end of the body"
            )
        extras.append(ExtraItem(item_id, body[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    return Location(alarm, status, lat, lon, alt, speed, heading, when, tuple(extras))


def _decode_batch(body: bytes) -> LocationBatch:
    _need(body, 3, "a location batch (0x0704)")
    count, kind = struct.unpack_from(">HB", body)
    items = []
    pos = 3
    for k in range(count):
        if pos + 2 > len(body):
            raise BodyTooShort(f"a location batch (0x0704) announces {count} reports, the body holds {k}")
        (size,) = struct.unpack_from(">H", body, pos)
        if pos + 2 + size > len(body):
            raise BodyTooShort(f"report {k + 1} of a location batch (0x0704) runs past the end of the body")
        items.append(_decode_location(body[pos + 2 : pos + 2 + size], f"report {k + 1} of a location batch"))
        pos += 2 + size
    if pos != len(body):
        raise MalformedBody(f"a location batch (0x0704) has {len(body) - pos} bytes after its {count} reports")
    return LocationBatch(kind, tuple(items))


def _decode_register(body: bytes, version: Version) -> Register:
    maker, model, term = _REGISTER_WIDTHS[version]
    size = 4 + maker + model + term + 1
    _need(body, size, f"a {version.value} registration (0x0100)")
    province, city = struct.unpack_from(">HH", body)
    p = 4
    manufacturer = _string(body[p : p + maker])
    p += maker
    model_name = _string(body[p : p + model])
    p += model
    terminal_id = _string(body[p : p + term])
    p += term
    return Register(province, city, manufacturer, model_name, terminal_id, body[p], _string(body[p + 1 :]))


def _decode_authenticate(body: bytes, version: Version) -> Authenticate:
    if version is Version.V2013:
        _need(body, 1, "an authentication (0x0102)")
        return Authenticate(_string(body))
    _need(body, 1, "a 2019 authentication (0x0102)")
    size = body[0]
    _need(body, 1 + size, f"a 2019 authentication (0x0102) with a {size}-byte auth code")
    code = _string(body[1 : 1 + size])
    rest = body[1 + size :]
    return Authenticate(code, _string(rest[:_IMEI_BYTES]), _string(rest[_IMEI_BYTES:]))


def decode_message(header: Header, body: bytes) -> Message:
    """The typed message of a (complete, reassembled) body. Raises UnknownMessage, BodyTooShort,
    MalformedBody; the error carries ``header`` so the refusal names the terminal."""
    try:
        return _decode(header, body)
    except Jt808Error as exc:
        exc.header = header
        raise


def _decode(header: Header, body: bytes) -> Message:
    msg_id = header.msg_id
    if msg_id == MsgId.LOCATION:
        return _decode_location(body)
    if msg_id == MsgId.HEARTBEAT:
        return Heartbeat()
    if msg_id == MsgId.LOCATION_BATCH:
        return _decode_batch(body)
    if msg_id in (MsgId.TERMINAL_RESPONSE, MsgId.PLATFORM_RESPONSE):
        _need(body, 5, f"a general response (0x{msg_id:04x})")
        serial, reply_id, result = struct.unpack_from(">HHB", body)
        cls = TerminalResponse if msg_id == MsgId.TERMINAL_RESPONSE else PlatformResponse
        return cls(serial, reply_id, result)
    if msg_id == MsgId.REGISTER:
        return _decode_register(body, header.version)
    if msg_id == MsgId.AUTHENTICATE:
        return _decode_authenticate(body, header.version)
    if msg_id == MsgId.LOGOUT:
        return Logout()
    if msg_id == MsgId.REGISTER_RESPONSE:
        _need(body, 3, "a registration response (0x8100)")
        serial, result = struct.unpack_from(">HB", body)
        return RegisterResponse(serial, result, _string(body[3:]))
    raise UnknownMessage(f"message id 0x{msg_id:04x} is not one hazgate handles")


# --- bodies: encode ----------------------------------------------------------------------------------


def _encode_location(m: Location) -> bytes:
    head = _LOCATION.pack(m.alarm, m.status, m.lat_e6, m.lon_e6, m.altitude_m, m.speed_01kmh, m.heading_deg, m.time_bcd)
    return head + b"".join(bytes([x.item_id, len(x.data)]) + x.data for x in m.extras)


def encode_body(message: Message, version: Version = Version.V2013) -> bytes:
    if isinstance(message, Location):
        return _encode_location(message)
    if isinstance(message, Heartbeat | Logout):
        return b""
    if isinstance(message, TerminalResponse | PlatformResponse):
        return struct.pack(">HHB", message.reply_serial, message.reply_id, message.result)
    if isinstance(message, LocationBatch):
        parts = [struct.pack(">HB", len(message.items), message.kind)]
        for item in message.items:
            raw = _encode_location(item)
            parts.append(struct.pack(">H", len(raw)) + raw)
        return b"".join(parts)
    if isinstance(message, Register):
        maker, model, term = _REGISTER_WIDTHS[version]
        return (
            struct.pack(">HH", message.province, message.city)
            + _fixed(message.manufacturer, maker)
            + _fixed(message.model, model)
            + _fixed(message.terminal_id, term)
            + bytes([message.plate_color])
            + message.plate.encode("gbk")
        )
    if isinstance(message, Authenticate):
        code = message.auth_code.encode("gbk")
        if version is Version.V2013:
            return code
        return (
            bytes([len(code)])
            + code
            + _fixed(message.imei, _IMEI_BYTES)
            + _fixed(message.software_version, _SOFTWARE_VERSION_BYTES)
        )
    code = message.auth_code.encode("gbk") if message.result == RegisterResult.OK else b""
    return struct.pack(">HB", message.reply_serial, message.result) + code


@dataclass(slots=True)
class Endpoint:
    """One side's identity on a connection: phone, version and the next serial it sends."""

    phone: str
    version: Version = Version.V2013
    protocol_version: int = 0
    next_serial: int = field(default=0)

    def frame(self, message: Message) -> bytes:
        """The message as one frame with the next serial (0 .. 65535, then around again)."""
        return self.frame_with_serial(message, self.take_serial())

    def take_serial(self) -> int:
        serial = self.next_serial
        self.next_serial = (serial + 1) & 0xFFFF
        return serial

    def frame_with_serial(self, message: Message, serial: int) -> bytes:
        header = Header(
            msg_id=MESSAGE_IDS[type(message)],
            phone=self.phone,
            serial=serial,
            version=self.version,
            protocol_version=self.protocol_version,
        )
        return encode_frame(header, encode_body(message, self.version))
