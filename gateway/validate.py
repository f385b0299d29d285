"""Pure validation of one inbound message against the device registry: accept or refuse, with why.

No I/O here: the router gives us the message and a snapshot of the registry, and stores what
we return.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import ValidationError

from devices.types import DeviceType, Metric, metrics_for
from gateway.messages import InboundMessage
from gateway.payloads import READING_ADAPTER, READINGS_ADAPTER, STATUS_ADAPTER
from hazgate.topics import DeviceKind, DeviceTopic, parse_device

EXCERPT_BYTES = 512
# RFC 3339 with a time zone, the shapes both Python and PostgreSQL read the same way.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
TS_FORMAT = "an RFC 3339 time with a time zone, e.g. 2026-11-23T08:00:00.000+08:00"
# Readings stamped further ahead than this are a device clock gone wrong, not the future.
MAX_CLOCK_SKEW_S = 300.0


class RejectReason(StrEnum):
    WRONG_TOPIC = "wrong_topic"
    OVERSIZE = "oversize"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_DISABLED = "device_disabled"
    SITE_MISMATCH = "site_mismatch"
    WRONG_DEVICE_TYPE = "wrong_device_type"
    UNKNOWN_METRIC = "unknown_metric"
    OUT_OF_RANGE = "out_of_range"
    FUTURE_TIMESTAMP = "future_timestamp"
    STORAGE_REFUSED = "storage_refused"
    # JT/T 808 terminals (gateway/jt808/, docs/jt808.md)
    BAD_CHECK_CODE = "bad_check_code"
    BAD_ESCAPE = "bad_escape"
    TRUNCATED = "truncated"
    BAD_LENGTH = "bad_length"
    FRAME_TOO_LARGE = "frame_too_large"
    JUNK = "junk"
    BAD_HEADER = "bad_header"
    ENCRYPTED = "encrypted"
    UNKNOWN_MESSAGE = "unknown_message"
    BODY_TOO_SHORT = "body_too_short"
    MALFORMED_BODY = "malformed_body"
    INCOMPLETE_MESSAGE = "incomplete_message"
    UNKNOWN_TERMINAL = "unknown_terminal"
    PLATE_MISMATCH = "plate_mismatch"
    AUTH_FAILED = "auth_failed"
    NOT_AUTHENTICATED = "not_authenticated"
    PHONE_MISMATCH = "phone_mismatch"
    BAD_TIME = "bad_time"
    FLOOD = "flood"
    TOO_MANY_ERRORS = "too_many_errors"
    TOO_MANY_CONNECTIONS = "too_many_connections"


@dataclass(frozen=True, slots=True)
class KnownDevice:
    device_id: str
    site: str
    type: DeviceType
    gate_id: str | None
    enabled: bool


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    detail: str
    topic: str
    device_id: str | None
    payload_excerpt: str
    payload_bytes: int
    source: str = "mqtt"  # rejected.source: mqtt, jt808


@dataclass(frozen=True, slots=True)
class Row:
    """One reading ready for storage."""

    ts: datetime
    ts_text: str  # as the device sent it (RFC 3339), for COPY
    device_id: str
    seq: int
    site: str
    values: dict[str, float]


@dataclass(slots=True)
class Verdict:
    """What became of one message: rows to store, a status, an event, refusals."""

    topic: DeviceTopic | None = None
    device: KnownDevice | None = None
    rows: list[Row] = field(default_factory=list)
    status: str | None = None
    event: dict[str, object] | None = None
    rejections: list[Rejection] = field(default_factory=list)


def excerpt(payload: bytes) -> str:
    # PostgreSQL text cannot hold NUL; show it rather than lose the row.
    return payload[:EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "\\x00")


def _reject(msg: InboundMessage, reason: RejectReason, detail: str, device_id: str | None) -> Rejection:
    return Rejection(reason, detail, msg.topic, device_id, excerpt(msg.payload), len(msg.payload))


def validate(
    msg: InboundMessage,
    devices: dict[str, KnownDevice],
    *,
    max_payload_bytes: int,
    now: datetime,
    max_event_bytes: int | None = None,
) -> Verdict:
    verdict = Verdict(topic=parse_device(msg.topic))
    topic = verdict.topic
    if topic is None:
        verdict.rejections.append(
            _reject(msg, RejectReason.WRONG_TOPIC, f"topic {msg.topic!r} is not a device topic", None)
        )
        return verdict
    # Gate events carry photos and get a larger allowance than telemetry.
    limit = max_event_bytes if topic.kind is DeviceKind.EVENT and max_event_bytes else max_payload_bytes
    if len(msg.payload) > limit:
        detail = f"{topic.kind.value} payload of {len(msg.payload)} bytes exceeds the limit of {limit}"
        verdict.rejections.append(_reject(msg, RejectReason.OVERSIZE, detail, topic.device_id))
        return verdict
    device = devices.get(topic.device_id)
    problem = _device_problem(topic, device)
    if problem is not None:
        verdict.rejections.append(_reject(msg, *problem, topic.device_id))
        return verdict
    assert device is not None
    verdict.device = device
    if topic.kind is DeviceKind.TELEMETRY:
        _telemetry(msg, device, verdict, now)
    elif topic.kind is DeviceKind.STATUS:
        _status(msg, device, verdict)
    else:
        _event(msg, device, verdict)
    return verdict


def _device_problem(topic: DeviceTopic, device: KnownDevice | None) -> tuple[RejectReason, str] | None:
    if device is None:
        return RejectReason.UNKNOWN_DEVICE, f"device {topic.device_id!r} is not registered"
    if not device.enabled:
        return RejectReason.DEVICE_DISABLED, f"device {topic.device_id!r} is disabled"
    if device.site != topic.site:
        return (
            RejectReason.SITE_MISMATCH,
            f"device {device.device_id!r} belongs to site {device.site!r}, not {topic.site!r}",
        )
    publishes = {DeviceKind.TELEMETRY: bool(metrics_for(device.type)), DeviceKind.STATUS: True}
    publishes[DeviceKind.EVENT] = device.gate_id is not None and device.type is not DeviceType.KIOSK
    if not publishes[topic.kind]:
        return RejectReason.WRONG_DEVICE_TYPE, f"a {device.type.value} does not publish {topic.kind.value}"
    return None


def _decode_json(msg: InboundMessage, verdict: Verdict, device_id: str) -> object | None:
    try:
        text = msg.payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        verdict.rejections.append(_reject(msg, RejectReason.NOT_UTF8, f"payload is not UTF-8: {exc}", device_id))
        return None
    try:
        decoded: object = json.loads(text)
    except ValueError as exc:
        verdict.rejections.append(_reject(msg, RejectReason.MALFORMED_JSON, f"payload is not JSON: {exc}", device_id))
        return None
    return decoded


def _type_error_detail(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc or 'payload'}: {err['msg']}")
    return "; ".join(parts)


def _telemetry(msg: InboundMessage, device: KnownDevice, verdict: Verdict, now: datetime) -> None:
    # One reading or an array of them; the first byte says which, so errors name the right shape.
    is_array = msg.payload.lstrip()[:1] == b"["
    try:
        readings = (
            READINGS_ADAPTER.validate_json(msg.payload) if is_array else [READING_ADAPTER.validate_json(msg.payload)]
        )
    except ValidationError as exc:
        if _decode_json(msg, verdict, device.device_id) is not None:
            detail = _type_error_detail(exc)
            verdict.rejections.append(_reject(msg, RejectReason.WRONG_TYPE, detail, device.device_id))
        return
    # The hot path of ingest: kept to plain comparisons, messages formatted only on refusal.
    metrics = metrics_for(device.type)
    latest_ok = now + timedelta(seconds=MAX_CLOCK_SKEW_S)
    rows = verdict.rows
    for reading in readings:
        ts = _parse_ts(reading.ts)
        if ts is None:
            problem: Problem | None = (
                RejectReason.WRONG_TYPE,
                f"seq {reading.seq}: ts {reading.ts!r} is not {TS_FORMAT}",
            )
        else:
            problem = reading_problem(reading.seq, ts, reading.values, metrics, latest_ok)
        if problem is None:
            assert ts is not None
            rows.append(Row(ts, reading.ts, device.device_id, reading.seq, device.site, reading.values))
        else:
            verdict.rejections.append(_reject(msg, *problem, device.device_id))


Problem = tuple[RejectReason, str]


def reading_problem(
    seq: int, ts: datetime, values: dict[str, float], metrics: dict[str, Metric], latest_ok: datetime
) -> Problem | None:
    """Why one reading is refused (a time too far ahead, an unknown metric, a value out of its
    range), or None. The same rules for every protocol: MQTT here, JT/T 808 in gateway/jt808."""
    if ts > latest_ok:
        return RejectReason.FUTURE_TIMESTAMP, f"seq {seq}: ts {ts.isoformat()} is in the future"
    for name, value in values.items():
        metric = metrics.get(name)
        if metric is None or not metric.min <= value <= metric.max:
            return _value_problem(seq, name, value, metric, metrics)
    return None


def _parse_ts(text: str) -> datetime | None:
    if RFC3339.match(text) is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # e.g. month 13: the shape was right, the date is not
        return None


def _value_problem(
    seq: int, name: str, value: float, metric: Metric | None, metrics: dict[str, Metric]
) -> tuple[RejectReason, str]:
    if metric is None:
        known = ", ".join(sorted(metrics))
        return RejectReason.UNKNOWN_METRIC, f"seq {seq}: unknown metric {name!r} (known: {known})"
    return (
        RejectReason.OUT_OF_RANGE,
        f"seq {seq}: {name}={value} outside the valid range {metric.min}..{metric.max} {metric.unit}",
    )


def _status(msg: InboundMessage, device: KnownDevice, verdict: Verdict) -> None:
    try:
        verdict.status = STATUS_ADAPTER.validate_json(msg.payload).state
    except ValidationError as exc:
        if _decode_json(msg, verdict, device.device_id) is not None:
            verdict.rejections.append(_reject(msg, RejectReason.WRONG_TYPE, _type_error_detail(exc), device.device_id))


def _event(msg: InboundMessage, device: KnownDevice, verdict: Verdict) -> None:
    data = _decode_json(msg, verdict, device.device_id)
    if data is None:
        return
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        detail = 'a gate event is a JSON object with a "type"'
        verdict.rejections.append(_reject(msg, RejectReason.WRONG_TYPE, detail, device.device_id))
        return
    # Each event type's fields are validated by the gate pipeline, which owns them.
    verdict.event = data
