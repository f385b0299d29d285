"""Rule and subscription definitions: the JSON bodies of ``POST /api/v1/rules`` and ``/subscriptions``.

Both are pydantic discriminated unions (on ``kind`` and on ``channel``) that refuse unknown
fields, so a typo such as ``"for": 30`` is an error rather than a rule that fires at once.
Identifiers (``id``) are the store's business: the engine receives ``{rule_id: rule}``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from alerts.urlcheck import DEFAULT_URL_POLICY, UrlPolicy, check_webhook_url
from devices.types import ALL_METRICS, FLAG_METRICS, METRICS, DeviceType, metrics_for
from hazgate.topics import ROOT, is_reserved


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK: Final = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}

Op = Literal[">", ">=", "<", "<="]
UPPER_OPS: Final = frozenset({">", ">="})

# The 五必查 check codes of CONTRACT.md (gate decisions); a gate_failure rule may name a subset.
CHECK_CODES: Final = frozenset(
    {"vehicle_documents", "personnel", "inspection_validity", "waybill_match", "permitted_media"}
)

# Same shape as site and device ids in MQTT topics (gateway.messages), so a typo fails here.
_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Name = Annotated[str, StringConstraints(pattern=_NAME_PATTERN)]
RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegativeSeconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def holds(op: str, x: float, bound: float) -> bool:
    """``x op bound``: the rule's condition."""
    if op == ">":
        return x > bound
    if op == ">=":
        return x >= bound
    if op == "<":
        return x < bound
    return x <= bound


def is_cleared(op: str, x: float, bound: float, clear: float | None) -> bool:
    """A firing condition resolves when it no longer holds *and* ``x`` is at or past the clear bound.

    For ``>``/``>=`` that is ``x <= clear`` (default ``clear = bound``), for ``<``/``<=`` ``x >= clear``:
    values between the bound and the clear bound keep the alert firing, so it cannot flap.
    """
    if holds(op, x, bound):
        return False
    c = bound if clear is None else clear
    return x <= c if op in UPPER_OPS else x >= c


def _check_clear_side(op: str, bound: float, clear: float | None, bound_name: str, clear_name: str) -> None:
    if clear is None:
        return
    if op in UPPER_OPS and clear > bound:
        raise ValueError(
            f"{clear_name} {clear:g} is above {bound_name} {bound:g}: for {op!r} the alert resolves when the "
            f"value falls to {clear_name}, so it must be <= {bound_name}"
        )
    if op not in UPPER_OPS and clear < bound:
        raise ValueError(
            f"{clear_name} {clear:g} is below {bound_name} {bound:g}: for {op!r} the alert resolves when the "
            f"value rises to {clear_name}, so it must be >= {bound_name}"
        )


def _known_metric(name: str) -> str:
    if name not in ALL_METRICS:
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(sorted(ALL_METRICS))}")
    return name


def _metric_of_type(metric: str, device_type: DeviceType | None) -> None:
    if device_type is None:
        return
    own = metrics_for(device_type)
    if metric not in own:
        known = ", ".join(sorted(own)) or "none"
        raise ValueError(f"device type {device_type.value!r} does not publish {metric!r} (its metrics: {known})")


class _Definition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _RuleBase(_Definition):
    name: RuleName
    severity: Severity


class _DeviceScoped(_RuleBase):
    """Rules about devices: optional scope by site, device type and device id (all must match)."""

    site: Name | None = None
    device_type: DeviceType | None = None
    device_id: Name | None = None

    def applies_to(self, site: str | None, device_type: str | None, device_id: str) -> bool:
        if self.device_id is not None and self.device_id != device_id:
            return False
        if self.site is not None and self.site != site:
            return False
        return self.device_type is None or self.device_type == device_type


class ThresholdRule(_DeviceScoped):
    """``metric op value`` held for ``for_s`` seconds; resolves past ``clear_value`` (hysteresis)."""

    kind: Literal["threshold"] = "threshold"
    metric: str
    op: Op
    value: Finite
    for_s: NonNegativeSeconds = 0.0
    clear_value: Finite | None = None

    _metric = field_validator("metric")(_known_metric)

    @model_validator(mode="after")
    def _consistent(self) -> ThresholdRule:
        _metric_of_type(self.metric, self.device_type)
        m = ALL_METRICS[self.metric]
        for label, v in (("value", self.value), ("clear_value", self.clear_value)):
            if v is not None and not m.min <= v <= m.max:
                raise ValueError(
                    f"{label} {v:g} is outside the valid range of {self.metric} "
                    f"[{m.min:g}, {m.max:g}] {m.unit}; readings outside it are refused at ingest"
                )
        _check_clear_side(self.op, self.value, self.clear_value, "value", "clear_value")
        return self


class RateRule(_DeviceScoped):
    """Change per second of ``metric`` over the last ``window_s`` seconds, compared with ``per_s``.

    Rising faster than 5 kPa/s: ``op ">", per_s 5``; falling faster: ``op "<", per_s -5``.
    """

    kind: Literal["rate"] = "rate"
    metric: str
    op: Op
    per_s: Finite
    window_s: PositiveSeconds
    for_s: NonNegativeSeconds = 0.0
    clear_per_s: Finite | None = None

    _metric = field_validator("metric")(_known_metric)

    @model_validator(mode="after")
    def _consistent(self) -> RateRule:
        _metric_of_type(self.metric, self.device_type)
        _check_clear_side(self.op, self.per_s, self.clear_per_s, "per_s", "clear_per_s")
        return self


class FlagRule(_DeviceScoped):
    """One bit of a flags metric (the JT/T 808 alarm word ``alarm_flags``): fires while the bit is
    set; resolves when a reading has it clear, or with ``latch`` only when an officer resolves it
    (SOS: terminals clear the bit as soon as the platform has answered the report)."""

    kind: Literal["flag"] = "flag"
    metric: str
    bit: Annotated[int, Field(ge=0, le=31)]
    latch: bool = False

    @field_validator("metric")
    @classmethod
    def _flags_metric(cls, v: str) -> str:
        if v not in FLAG_METRICS:
            raise ValueError(
                f"metric {v!r} is not a word of flags; flag rules watch: {', '.join(sorted(FLAG_METRICS))}"
            )
        return v

    @model_validator(mode="after")
    def _of_type(self) -> FlagRule:
        _metric_of_type(self.metric, self.device_type)
        return self

    def is_set(self, value: float) -> bool:
        return value >= 0 and int(value) >> self.bit & 1 == 1


class AbsenceRule(_DeviceScoped):
    """A device sends no telemetry for ``silence_s`` seconds, or its last will says offline."""

    kind: Literal["absence"] = "absence"
    silence_s: PositiveSeconds

    @model_validator(mode="after")
    def _telemetry_type(self) -> AbsenceRule:
        if self.device_type is not None and self.device_type not in METRICS:
            with_telemetry = ", ".join(sorted(t.value for t in METRICS))
            raise ValueError(
                f"device type {self.device_type.value!r} publishes no telemetry, so it cannot fall silent; "
                f"absence rules watch: {with_telemetry}"
            )
        return self


class DwellRule(_RuleBase):
    """A vehicle stays in the park longer than ``max_hours`` (subject: the plate)."""

    kind: Literal["dwell"] = "dwell"
    max_hours: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    site: Name | None = None

    @property
    def max_s(self) -> float:
        return self.max_hours * 3600.0


class GateFailureRule(_RuleBase):
    """A gate inspection failed; with ``check_codes``, only when one of those checks failed.

    Subject is the plate: a vehicle failing again while its alert is open counts as a repeat;
    the alert resolves when the vehicle later passes and enters the site.
    """

    kind: Literal["gate_failure"] = "gate_failure"
    check_codes: tuple[str, ...] | None = None
    site: Name | None = None
    gate_id: Name | None = None

    @field_validator("check_codes")
    @classmethod
    def _known_codes(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("check_codes must name at least one check, or be left out for any failure")
        unknown = sorted(set(v) - CHECK_CODES)
        if unknown:
            raise ValueError(f"unknown check codes {unknown}; known: {', '.join(sorted(CHECK_CODES))}")
        return tuple(sorted(set(v)))


# --- rules on positions (GPS trackers against the park's layout; see alerts/positions.py) --------

# Zone kinds of the park layout (park.layout.ZoneKind), repeated as a literal for the schema.
ZoneKindName = Literal["park_boundary", "road", "parking", "filling_bay", "restricted", "gate", "assembly_point"]
# A tracker at a standstill still reports a few km/h of jitter; below this it counts as stopped.
STOPPED_BELOW_KMH: Final = 3.0


class _PositionRule(_RuleBase):
    """Rules on a tracker's position: ``gps_tracker`` readings with ``lat`` and ``lon``, judged
    against the current layout of the reading's site. Subject: the tracker (device id)."""

    site: Name | None = None
    device_id: Name | None = None

    def applies_to(self, site: str | None, device_type: str | None, device_id: str) -> bool:
        if device_type != DeviceType.GPS_TRACKER:
            return False
        if self.device_id is not None and self.device_id != device_id:
            return False
        return self.site is None or self.site == site


class ZoneRule(_PositionRule):
    """A tracked vehicle inside a zone of one of ``zone_kinds`` (for ``for_s`` seconds)."""

    kind: Literal["zone"] = "zone"
    zone_kinds: tuple[ZoneKindName, ...] = Field(min_length=1)
    for_s: NonNegativeSeconds = 0.0

    @field_validator("zone_kinds")
    @classmethod
    def _distinct(cls, v: tuple[ZoneKindName, ...]) -> tuple[ZoneKindName, ...]:
        if "park_boundary" in v:
            raise ValueError("park_boundary holds every tracked vehicle in the park; name the zones to keep out of")
        return tuple(sorted(set(v)))


class SpeedingRule(_PositionRule):
    """Faster than the lowest ``speed_limit_kmh`` of the zones the vehicle is in, by more than
    ``tolerance_kmh``, for ``for_s``; resolves at or below the limit."""

    kind: Literal["speeding"] = "speeding"
    tolerance_kmh: Annotated[float, Field(ge=0, le=50, allow_inf_nan=False)] = 0.0
    for_s: NonNegativeSeconds = 0.0


class StopRule(_PositionRule):
    """Stopped (below ``stopped_below_kmh``) longer than the zone's ``max_stop_s``; anywhere else
    in the park but a parking lot or filling bay, longer than the site default (the park
    boundary's ``max_stop_s``, else 600 s). Resolves when the vehicle moves."""

    kind: Literal["stop"] = "stop"
    stopped_below_kmh: Annotated[float, Field(gt=0, le=15, allow_inf_nan=False)] = STOPPED_BELOW_KMH


class OffRouteRule(_PositionRule):
    """Inside the park but outside every road, parking, filling bay and gate zone, for ``for_s``."""

    kind: Literal["off_route"] = "off_route"
    for_s: NonNegativeSeconds = 0.0


PositionRule = ZoneRule | SpeedingRule | StopRule | OffRouteRule
# Their kinds: an alert of one of these is a position violation (risk index, docs/index.md).
POSITION_RULE_KINDS: Final = ("zone", "speeding", "stop", "off_route")
POSITION_RULES: Final = (ZoneRule, SpeedingRule, StopRule, OffRouteRule)

Rule = Annotated[
    ThresholdRule
    | RateRule
    | AbsenceRule
    | DwellRule
    | GateFailureRule
    | FlagRule
    | ZoneRule
    | SpeedingRule
    | StopRule
    | OffRouteRule,
    Field(discriminator="kind"),
]
RULE_ADAPTER: Final[TypeAdapter[Rule]] = TypeAdapter(Rule, config=ConfigDict(title="rule"))


def parse_rule(data: object) -> Rule:
    """Validate a rule body (a dict from JSON); raises ``pydantic.ValidationError`` naming the field."""
    return RULE_ADAPTER.validate_python(data)


# --- subscriptions -----------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _SubscriptionBase(_Definition):
    min_severity: Severity = Severity.INFO
    site: Name | None = None
    device_type: DeviceType | None = None

    def accepts(self, severity: Severity, site: str | None, device_type: str | None) -> bool:
        """Whether an alert with these attributes passes this subscription's filters."""
        if severity.rank < self.min_severity.rank:
            return False
        if self.site is not None and self.site != site:
            return False
        return self.device_type is None or self.device_type == device_type


class WebhookSubscription(_SubscriptionBase):
    """``POST`` of the alert body, signed with ``secret`` (see alerts.payload).

    ``url`` is checked with the :class:`UrlPolicy` passed as validation context ``url_policy``
    (``parse_subscription(..., url_policy=...)``); without one, loopback and private are allowed.
    ``secret`` is a ``SecretStr``: dumps show ``**********``; the store reads ``secret.get_secret_value()``.
    """

    channel: Literal["webhook"] = "webhook"
    url: Annotated[str, StringConstraints(max_length=2048)]
    secret: SecretStr = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _safe_url(cls, v: str, info: ValidationInfo) -> str:
        context: Any = info.context
        policy = context.get("url_policy", DEFAULT_URL_POLICY) if isinstance(context, dict) else DEFAULT_URL_POLICY
        if not isinstance(policy, UrlPolicy):
            raise TypeError("validation context url_policy must be an alerts.urlcheck.UrlPolicy")
        return check_webhook_url(v, policy)


class MqttSubscription(_SubscriptionBase):
    """The alert body published to ``topic`` on hazgate's broker."""

    channel: Literal["mqtt"] = "mqtt"
    topic: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    qos: Literal[0, 1, 2] = 1

    @field_validator("topic")
    @classmethod
    def _publishable(cls, v: str) -> str:
        if "+" in v or "#" in v or "\x00" in v:
            raise ValueError(f"topic {v!r} may not contain wildcards (+, #) or NUL: alerts are published to it")
        if v.startswith("$"):
            raise ValueError(f"topic {v!r} starts with '$', which brokers reserve")
        if is_reserved(v):
            raise ValueError(
                f"topic {v!r} lies under device, gate or service topics; use e.g. {ROOT}/{{site}}/alerts instead"
            )
        return v


class EmailSubscription(_SubscriptionBase):
    """An e-mail per notification to ``to``."""

    channel: Literal["email"] = "email"
    to: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]

    @field_validator("to")
    @classmethod
    def _address(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not an e-mail address (name@domain)")
        return v


class StreamSubscription(_SubscriptionBase):
    """Live stream (dashboard, SSE/WebSocket clients); ``label`` names it in the UI."""

    channel: Literal["stream"] = "stream"
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


Subscription = Annotated[
    WebhookSubscription | MqttSubscription | EmailSubscription | StreamSubscription,
    Field(discriminator="channel"),
]
SUBSCRIPTION_ADAPTER: Final[TypeAdapter[Subscription]] = TypeAdapter(
    Subscription, config=ConfigDict(title="subscription")
)


def parse_subscription(data: object, *, url_policy: UrlPolicy = DEFAULT_URL_POLICY) -> Subscription:
    """Validate a subscription body; webhook URLs are checked against ``url_policy``."""
    return SUBSCRIPTION_ADAPTER.validate_python(data, context={"url_policy": url_policy})
