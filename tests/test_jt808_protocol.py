"""JT/T 808 on the wire, from byte strings worked out by hand from the standard; no services.

Frames are written as hex, field by field, with the check code XORed by hand where it matters
(the escaping at the frame's end) and by an independent reduce() elsewhere.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime, timedelta
from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.types import DeviceType
from gateway.jt808.errors import (
    BadCheckCode,
    BadEscape,
    BadLength,
    BodyTooShort,
    FrameTooLarge,
    IncompleteMessage,
    Junk,
    MalformedBody,
    Truncated,
    UnknownMessage,
)
from gateway.jt808.flags import ALARM_NAMES, LATCHED_ALARMS, AlarmBit, Status, alarm_bits, load_state
from gateway.jt808.protocol import (
    Authenticate,
    Endpoint,
    ExtraItem,
    FrameSplitter,
    Header,
    Heartbeat,
    Location,
    LocationBatch,
    Logout,
    Message,
    MsgId,
    PlatformResponse,
    Register,
    RegisterResponse,
    TerminalResponse,
    Version,
    decode_frame,
    decode_message,
    encode_body,
    encode_frame,
    escape,
    make_location,
    unescape,
)
from gateway.jt808.readings import location_rows, reading_values, report_seq
from gateway.jt808.subpackets import Reassembler
from gateway.validate import KnownDevice

PHONE_2013 = "013912345678"  # BCD[6]: 01 39 12 34 56 78
PHONE_2019 = "00000000013912345678"  # BCD[10]: 00 00 00 00 01 39 12 34 56 78


def frame(hex_content: str) -> bytes:
    """``7e`` + header and body + their XOR + ``7e`` (no byte here needs escaping)."""
    data = bytes.fromhex(hex_content.replace(" ", ""))
    return b"\x7e" + data + bytes([reduce(operator.xor, data, 0)]) + b"\x7e"


def inner(raw: bytes) -> bytes:
    """What the splitter hands on: the bytes between the flags."""
    pieces = FrameSplitter().feed(raw)
    assert len(pieces) == 1 and isinstance(pieces[0], bytes), pieces
    return pieces[0]


def decode(raw: bytes) -> tuple[Header, Message]:
    packet = decode_frame(inner(raw))
    return packet.header, decode_message(packet.header, packet.body)


# --- escaping and the check code ------------------------------------------------------------------


def test_escaping_follows_the_standards_example():
    # JT/T 808 4.4.2: the content 30 7e 08 7d 55 is sent as 7e 30 7d 02 08 7d 01 55 7e.
    assert escape(bytes.fromhex("307e087d55")) == bytes.fromhex("307d02087d0155")
    assert unescape(bytes.fromhex("307d02087d0155")) == bytes.fromhex("307e087d55")


def test_escapes_at_the_very_start_and_end_of_the_content_are_undone():
    assert unescape(bytes.fromhex("7d02307d01")) == bytes.fromhex("7e307d")
    assert unescape(bytes.fromhex("7d017d02")) == bytes.fromhex("7d7e")


def test_heartbeat_2013_by_hand():
    # id 0002, properties 0000 (2013, no body), phone 01 39 12 34 56 78, serial 0007.
    # XOR: 02 ^ 01 ^ 39 ^ 12 ^ 34 ^ 56 ^ 78 ^ 07 = 0x35.
    raw = bytes.fromhex("7e 0002 0000 013912345678 0007 35 7e".replace(" ", ""))
    header, message = decode(raw)
    assert header == Header(MsgId.HEARTBEAT, PHONE_2013, 7, Version.V2013)
    assert message == Heartbeat()
    assert Endpoint(PHONE_2013, next_serial=7).frame(Heartbeat()) == raw


def test_check_code_of_0x7e_is_escaped_right_before_the_end_flag():
    # Without the serial the header XORs to 0x32; serial 004c makes the check code 0x7e,
    # sent as 7d 02 just before the closing flag.
    raw = bytes.fromhex("7e 0002 0000 013912345678 004c 7d02 7e".replace(" ", ""))
    header, _ = decode(raw)
    assert header.serial == 0x4C
    assert Endpoint(PHONE_2013, next_serial=0x4C).frame(Heartbeat()) == raw


def test_check_code_of_0x7d_is_escaped_too():
    raw = bytes.fromhex("7e 0002 0000 013912345678 004f 7d01 7e".replace(" ", ""))
    assert decode(raw)[0].serial == 0x4F
    assert Endpoint(PHONE_2013, next_serial=0x4F).frame(Heartbeat()) == raw


def test_heartbeat_2019_has_the_version_bit_a_protocol_version_and_a_ten_byte_phone():
    # properties 4000 (bit 14), protocol version 01, phone BCD[10], serial 0001.
    # XOR: 02 ^ 40 ^ 01 ^ 01 ^ 39 ^ 12 ^ 34 ^ 56 ^ 78 ^ 01 = 0x72.
    raw = bytes.fromhex("7e 0002 4000 01 00000000013912345678 0001 72 7e".replace(" ", ""))
    header, message = decode(raw)
    assert header == Header(MsgId.HEARTBEAT, PHONE_2019, 1, Version.V2019, protocol_version=1)
    assert message == Heartbeat()
    assert Endpoint(PHONE_2019, Version.V2019, 1, next_serial=1).frame(Heartbeat()) == raw


# --- location reports --------------------------------------------------------------------------------

# alarm 00000001 (SOS), status 00000003 (ACC on, positioned), latitude 29.958000 = 01c91f70,
# longitude 121.712000 = 07412d80, altitude 12 m, speed 60.5 km/h = 025d, heading 90 = 005a,
# time 25-03-01 16:00:00 (GMT+8), extra item 01 (mileage, 4 bytes) 00003039 = 1234.5 km.
LOCATION_BODY = "00000001 00000003 01c91f70 07412d80 000c 025d 005a 250301160000 01 04 00003039"


def test_location_report_2013_by_hand():
    header, message = decode(frame(f"0200 0022 013912345678 0001 {LOCATION_BODY}"))
    assert header.body_length == 0x22 == 34
    assert isinstance(message, Location)
    assert (message.lat, message.lon, message.speed_kmh) == (29.958, 121.712, 60.5)
    assert (message.altitude_m, message.heading_deg, message.mileage_km) == (12, 90, 1234.5)
    assert message.time == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)  # BCD time is GMT+8
    assert message.extras == (ExtraItem(0x01, bytes.fromhex("00003039")),)
    assert alarm_bits(message.alarm) == [AlarmBit.SOS]
    assert reading_values(message) == {
        "alarm_flags": 1.0,
        "lat": 29.958,
        "lon": 121.712,
        "speed_kmh": 60.5,
        "heading_deg": 90.0,
        "altitude_m": 12.0,
        "mileage_km": 1234.5,
    }


def test_location_report_2019_has_the_same_body_behind_the_longer_header():
    header, message = decode(frame(f"0200 4022 01 00000000013912345678 0001 {LOCATION_BODY}"))
    assert header.version is Version.V2019 and header.phone == PHONE_2019
    assert isinstance(message, Location) and message.lat == 29.958


def test_south_and_west_come_from_the_status_word():
    # status 0000000f: ACC on, positioned, south latitude (bit 2), west longitude (bit 3).
    body = "00000000 0000000f 01c91f70 07412d80 0000 0000 0000 250301160000"
    _, message = decode(frame(f"0200 001c 013912345678 0002 {body}"))
    assert isinstance(message, Location)
    assert (message.lat, message.lon) == (-29.958, -121.712)


def test_a_report_without_a_fix_keeps_its_alarms_but_not_a_position():
    body = "00000001 00000001 00000000 00000000 0000 0000 0000 250301160000"  # status: ACC on, no fix
    _, message = decode(frame(f"0200 001c 013912345678 0003 {body}"))
    assert isinstance(message, Location) and not message.positioned
    assert reading_values(message) == {"alarm_flags": 1.0}


@pytest.mark.parametrize("bit", list(AlarmBit))
def test_every_alarm_bit_is_named_and_stored_as_its_power_of_two(bit: AlarmBit):
    word = f"{1 << bit:08x}"
    body = f"{word} 00000003 01c91f70 07412d80 0000 0000 0000 250301160000"
    _, message = decode(frame(f"0200 001c 013912345678 0004 {body}"))
    assert isinstance(message, Location)
    assert alarm_bits(message.alarm) == [bit]
    assert reading_values(message)["alarm_flags"] == float(2**bit)
    english, chinese = ALARM_NAMES[bit]
    assert english and chinese


def test_alarm_word_with_every_bit_set_is_the_largest_alarm_flags():
    body = "ffffffff 00000003 01c91f70 07412d80 0000 0000 0000 250301160000"
    _, message = decode(frame(f"0200 001c 013912345678 0005 {body}"))
    assert isinstance(message, Location)
    assert alarm_bits(message.alarm) == list(AlarmBit) and len(AlarmBit) == 32
    assert reading_values(message)["alarm_flags"] == 4294967295.0
    assert AlarmBit.SOS in LATCHED_ALARMS


def test_status_bits_and_load_state():
    status = Status.ACC_ON | Status.POSITIONED | Status.LOAD_LOW | Status.LOAD_HIGH | Status.BEIDOU
    assert status == 0x00080303
    assert load_state(status) == "full" and load_state(Status.LOAD_LOW) == "half" and load_state(0) == "empty"


def test_location_batch_by_hand():
    # 0704: count 0002, kind 01 (blind-area catch-up), then each report as length + body.
    one = "00000000 00000003 01c91f70 07412d80 0000 0000 0000 250301160000"
    two = "00000000 00000003 01c91f70 07412d80 0000 0000 0000 250301160001"
    body = f"0002 01 001c {one} 001c {two}"
    length = len(bytes.fromhex(body.replace(" ", "")))
    _, message = decode(frame(f"0704 {length:04x} 013912345678 0006 {body}"))
    assert isinstance(message, LocationBatch) and message.kind == 1
    assert [m.time for m in message.items] == [
        datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC),
        datetime(2025, 3, 1, 8, 0, 1, tzinfo=UTC),
    ]


# --- session messages ---------------------------------------------------------------------------------


def test_registration_2013_by_hand():
    # province 0021, city 0002, manufacturer "HZGTE" (5), model "HG-808" (20, NUL-padded),
    # terminal id "T000001" (7), plate colour 02 (yellow), plate 浙B12345 in GBK (d5e3 42 3132333435).
    body = ("0021 0002 485a475445 48472d383038" + "00" * 14 + " 54303030303031 02 d5e3 42 3132333435").replace(" ", "")
    length = len(bytes.fromhex(body))
    _, message = decode(frame(f"0100 {length:04x} 013912345678 0000 {body}"))
    assert length == 45
    assert message == Register(0x21, 0x02, "HZGTE", "HG-808", "T000001", 2, "浙B12345")
    assert encode_body(message, Version.V2013).hex() == body


def test_registration_2019_uses_wider_fields():
    body = (
        "0021 0002" + "485a475445".ljust(22, "0") + "48472d383038".ljust(60, "0") + "54303030303031".ljust(60, "0")
    ) + "02d5e3423132333435"
    length = len(bytes.fromhex(body.replace(" ", "")))
    _, message = decode(frame(f"0100 {0x4000 | length:04x} 01 00000000013912345678 0000 {body}"))
    assert length == 4 + 11 + 30 + 30 + 1 + 8
    assert message == Register(0x21, 0x02, "HZGTE", "HG-808", "T000001", 2, "浙B12345")


def test_authentication_2013_is_the_code_alone_2019_has_length_imei_and_software_version():
    _, m2013 = decode(frame("0102 0005 013912345678 0001 6162636465"))
    assert m2013 == Authenticate("abcde")
    imei = "383630303030303030303030303031"  # "860000000000001"
    software = "56312e30".ljust(40, "0")  # "V1.0", 20 bytes
    body = f"05 6162636465 {imei} {software}"
    length = len(bytes.fromhex(body.replace(" ", "")))
    _, m2019 = decode(frame(f"0102 {0x4000 | length:04x} 01 00000000013912345678 0001 {body}"))
    assert m2019 == Authenticate("abcde", "860000000000001", "V1.0")


def test_platform_answers_by_hand():
    # 0x8001: reply serial 0007, reply id 0200, result 00.
    assert encode_body(PlatformResponse(7, 0x0200, 0)).hex() == "0007020000"
    # 0x8100: reply serial 0007, result 00, auth code "abc"; result 4 carries no code.
    assert encode_body(RegisterResponse(7, 0, "abc")).hex() == "000700616263"
    assert encode_body(RegisterResponse(7, 4)).hex() == "000704"
    assert encode_body(TerminalResponse(1, 0x8103, 0)).hex() == "0001810300"


# --- sub-packets ---------------------------------------------------------------------------------------


def test_a_batch_in_two_sub_packets_is_reassembled_and_answered_by_its_last_serial():
    location = make_location(datetime(2025, 3, 1, 8, tzinfo=UTC), 29.9, 121.7)
    body = encode_body(LocationBatch(0, (location, location)))
    halves = (body[:20], body[20:])
    raws = [
        encode_frame(Header(MsgId.LOCATION_BATCH, PHONE_2013, 10 + i, subpacket=(2, i + 1)), half)
        for i, half in enumerate(halves)
    ]
    # property bit 13 set, then total 0002 and index 0001 after the serial.
    assert raws[0].hex().startswith(f"7e07042014{PHONE_2013}000a00020001")
    reassembler = Reassembler()
    first, dropped = reassembler.add(decode_frame(inner(raws[0])), now=0.0)
    assert first is None and dropped == [] and len(reassembler) == 1
    whole, _ = reassembler.add(decode_frame(inner(raws[1])), now=1.0)
    assert whole is not None and whole.last_serial == 11 and whole.packet.header.subpacket is None
    assert decode_message(whole.packet.header, whole.packet.body) == LocationBatch(0, (location, location))


def test_sub_packets_that_never_complete_are_given_up_after_the_timeout():
    raw = encode_frame(Header(MsgId.LOCATION_BATCH, PHONE_2013, 1, subpacket=(3, 1)), b"\x00\x01")
    reassembler = Reassembler(timeout_s=60)
    reassembler.add(decode_frame(inner(raw)), now=0.0)
    given_up = reassembler.expire(now=61.0)
    assert len(given_up) == 1 and isinstance(given_up[0], IncompleteMessage) and len(reassembler) == 0


# --- malformed input ---------------------------------------------------------------------------------------


def test_a_wrong_check_code_is_refused_and_still_names_the_terminal():
    raw = bytes.fromhex("7e 0002 0000 013912345678 0007 36 7e".replace(" ", ""))  # 0x35 is right
    with pytest.raises(BadCheckCode) as err:
        decode(raw)
    assert err.value.header is not None and err.value.header.phone == PHONE_2013
    assert err.value.result is None  # dropped without an answer


def test_an_escape_byte_followed_by_anything_but_01_or_02_is_refused():
    with pytest.raises(BadEscape):
        decode(bytes.fromhex("7e 0002 0000 013912345678 0007 7d03 7e".replace(" ", "")))
    with pytest.raises(BadEscape):
        unescape(bytes.fromhex("00027d"))


def test_a_frame_shorter_than_its_header_is_truncated():
    with pytest.raises(Truncated):
        decode(frame("0002 0000 0139123456"))


def test_a_body_shorter_than_declared_is_truncated_and_longer_is_a_bad_length():
    with pytest.raises(Truncated):
        decode(frame("0102 0005 013912345678 0001 616263"))
    with pytest.raises(BadLength):
        decode(frame("0102 0002 013912345678 0001 616263"))


def test_an_unknown_message_id_is_refused_as_not_supported_with_its_header():
    with pytest.raises(UnknownMessage) as err:
        decode(frame("0900 0001 013912345678 0009 01"))
    assert err.value.result == 3 and err.value.header is not None and err.value.header.serial == 9


def test_a_location_body_too_short_for_its_id_is_a_message_error():
    with pytest.raises(BodyTooShort) as err:
        decode(frame("0200 000a 013912345678 0009 00000000000000030000"))
    assert err.value.result == 2 and err.value.header is not None


def test_an_extra_item_running_past_the_body_is_malformed():
    body = "00000000 00000003 01c91f70 07412d80 0000 0000 0000 250301160000 01 04 0000"
    with pytest.raises(MalformedBody):
        decode(frame(f"0200 0020 013912345678 0009 {body}"))


def test_splitter_reports_junk_and_oversize_frames_and_keeps_going():
    splitter = FrameSplitter(max_frame_bytes=64)
    good = Endpoint(PHONE_2013).frame(Heartbeat())
    pieces = splitter.feed(b"GET / HTTP/1.1" + good + b"\x7e" + b"\x01" * 100 + b"\x7e" + good)
    kinds = [type(p) if not isinstance(p, bytes) else bytes for p in pieces]
    assert kinds == [Junk, bytes, FrameTooLarge, bytes]


def test_a_bad_bcd_time_is_refused_as_bad_time_not_as_a_broken_frame():
    body = "00000000 00000003 01c91f70 07412d80 0000 0000 0000 251301160000"  # month 13
    _, message = decode(frame(f"0200 001c 013912345678 0009 {body}"))
    assert isinstance(message, Location) and message.time is None
    device = KnownDevice("gps-1", "north", DeviceType.GPS_TRACKER, None, True)
    rows, refused = location_rows(device, [message], address="jt808/x", frame=b"", now=datetime.now(UTC))
    assert rows == [] and [r.reason.value for r in refused] == ["bad_time"]


def test_the_same_report_time_gives_the_same_seq():
    ts = datetime(2025, 3, 1, 8, 0, 5, tzinfo=UTC)
    device = KnownDevice("gps-1", "north", DeviceType.GPS_TRACKER, None, True)
    report = make_location(ts, 29.9, 121.7, speed_kmh=300.0)  # over the 250 km/h plausibility bound
    rows, refused = location_rows(device, [report], address="a", frame=b"", now=ts + timedelta(seconds=1))
    assert rows == [] and refused[0].reason.value == "out_of_range" and refused[0].source == "jt808"
    rows, _ = location_rows(device, [make_location(ts, 29.9, 121.7)] * 2, address="a", frame=b"", now=ts)
    assert [r.seq for r in rows] == [report_seq(ts)] * 2 == [int(ts.timestamp())] * 2


# --- properties --------------------------------------------------------------------------------------------


@given(st.binary(max_size=300))
def test_escape_then_unescape_is_the_identity_and_hides_every_flag(data: bytes):
    escaped = escape(data)
    assert 0x7E not in escaped
    assert unescape(escaped) == data


u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=5)
times = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=0)
)
extras = st.lists(st.builds(ExtraItem, u8, st.binary(max_size=8)), max_size=3).map(tuple)
locations = st.builds(
    lambda a, s, la, lo, alt, sp, hd, t, ex: Location(a, s, la, lo, alt, sp, hd, make_location(t, 0, 0).time_bcd, ex),
    u32,
    u32,
    u32,
    u32,
    u16,
    u16,
    u16,
    times,
    extras,
)
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(TerminalResponse, u16, u16, u8),
    st.just(Heartbeat()),
    st.just(Logout()),
    st.builds(Register, u16, u16, text, text, text, u8, text),
    locations,
    st.builds(LocationBatch, st.integers(0, 1), st.lists(locations, max_size=3).map(tuple)),
    st.builds(PlatformResponse, u16, u16, u8),
    st.builds(RegisterResponse, u16, st.just(0), text),
)
versions = st.sampled_from(list(Version))
phones = st.text("0123456789", min_size=1, max_size=12)


@given(messages, versions, phones, u16)
def test_encode_then_decode_gives_back_the_message(message: Message, version: Version, phone: str, serial: int):
    endpoint = Endpoint(phone, version, 1 if version is Version.V2019 else 0, next_serial=serial)
    raw = endpoint.frame(message)
    header, decoded = decode(raw)
    assert decoded == message
    width = 12 if version is Version.V2013 else 20
    assert header.phone == phone.rjust(width, "0") and header.serial == serial and header.version is version


@given(st.builds(Authenticate, text.filter(bool), text, text), versions)
def test_authentication_round_trips_in_both_versions(message: Authenticate, version: Version):
    raw = Endpoint("13912345678", version).frame(message)
    _, decoded = decode(raw)
    expected = message if version is Version.V2019 else Authenticate(message.auth_code)
    assert decoded == expected


@given(st.lists(messages, min_size=1, max_size=4), st.lists(st.integers(1, 40), max_size=20))
def test_frames_come_out_whole_however_the_stream_is_cut(batch: list[Message], cuts: list[int]):
    endpoint = Endpoint("13912345678")
    frames = [endpoint.frame(m) for m in batch]
    stream = b"".join(frames)
    splitter, out, pos = FrameSplitter(), [], 0
    for size in [*cuts, len(stream)]:
        out += splitter.feed(stream[pos : pos + size])
        pos += size
    assert out == [f[1:-1] for f in frames]
