"""The one settings class. Built in the entry point and passed down; nothing reads it at import.

Every field comes from an environment variable with the ``HAZGATE_`` prefix (or ``.env``).
Top-level names are the ones the contract fixes (``HAZGATE_DATABASE_URL``,
``HAZGATE_MQTT_URL``, ``HAZGATE_API_PORT``); tuning lives in nested sections, set with a
double underscore, e.g. ``HAZGATE_INGEST__BATCH_SIZE=2000``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.auth_settings import AuthSettings
from checks.policy import CheckPolicy, NoEnrolledPhoto
from gateway.faces.config import FaceSettings
from hazgate.errors import ConfigError

# Loopback ports chosen away from the system defaults (5432, 1883) so a distribution's own
# PostgreSQL or Mosquitto, started by its package, never collides with ours.
DEFAULT_DB_PORT = 55432
DEFAULT_MQTT_PORT = 18830
SECRETS_FILE = "secrets.json"
# The IANA ports of MQTT and MQTT over TLS, for a URL that names none.
MQTT_PORT = 1883
MQTTS_PORT = 8883


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


def default_state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state") / "hazgate"


def default_cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache") / "hazgate"


class ServicesSettings(BaseModel):
    """Where the project-owned Mosquitto and TimescaleDB live and listen."""

    db_port: int = Field(DEFAULT_DB_PORT, ge=1, le=65535)
    mqtt_port: int = Field(DEFAULT_MQTT_PORT, ge=1, le=65535)
    # A Debian 13 root for TimescaleDB where the system has no package; shared by every
    # instance on the machine because building it costs about a minute.
    cache_dir: Path = Field(default_factory=default_cache_dir)
    # Seconds to wait for a service to accept connections before giving up with an error.
    start_timeout_s: float = Field(60.0, gt=0)


class MqttSettings(BaseModel):
    username: str = "hazgate"
    password: SecretStr | None = None
    # The gateway's MQTT client id. Unset (the default): each gateway process claims a distinct,
    # stable one, `{share_group}-gw-{host}-{slot}` (gateway/client_id.py); set it only to pin a
    # process to an id, and then give every process its own.
    client_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[^/+#\s]+$")
    # Shared-subscription group: several gateway processes in one group split the load.
    share_group: str = Field("hazgate", min_length=1, max_length=64, pattern=r"^[^/+#\s]+$")
    # TLS, used when HAZGATE_MQTT_URL is mqtts://. The CA that signed the broker's certificate
    # (unset: the system's trusted CAs); a client certificate and key when the broker asks for one.
    # The broker's certificate must name the host of HAZGATE_MQTT_URL.
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    keepalive_s: int = Field(30, ge=5)
    protocol: str = Field("3.1.1", pattern=r"^(3\.1\.1|5)$")
    # Messages in flight from the broker to us; bounds memory and lets batching work.
    max_inflight: int = Field(1000, ge=1, le=65535)
    # Telemetry is small; a payload this large is a broken or hostile device.
    max_payload_bytes: int = Field(256 * 1024, ge=1024)
    # Gate events carry photos (a 1280x720 JPEG in base64 is ~150-300 KB; a face burst several).
    max_event_bytes: int = Field(8 * 1024 * 1024, ge=1024)


class IngestSettings(BaseModel):
    batch_size: int = Field(2000, ge=1)
    flush_interval_s: float = Field(0.05, gt=0)
    # Messages waiting between the MQTT callback and the writer; when full the callback
    # blocks, which stops acknowledging and lets the broker hold the rest (backpressure).
    queue_max: int = Field(20000, ge=1)
    retention_days: int = Field(90, ge=1)


class GateSettings(BaseModel):
    # A visit with no new event for this long is closed (the tanker left or never finished).
    visit_timeout_s: float = Field(600.0, gt=0)
    # Face and ID-card images captured at the gate are biometric data: kept this long only.
    image_retention_days: int = Field(30, ge=1)
    # Threads doing face work; each holds ~100 MB of dlib models. Two cores: one or two.
    face_workers: int = Field(2, ge=1, le=8)
    # A registered person whose enrolment photo has no usable face (flagged at import): the live
    # face is compared with the ID-card photo alone, and "review" sends them to an officer
    # ("id_card_photo": that comparison decides). See docs/gate.md.
    no_enrolled_photo: NoEnrolledPhoto = NoEnrolledPhoto.REVIEW
    # The weighed net load may exceed the waybill quantity by the larger of these, at the entry
    # (an officer looks) and at the exit (the barrier holds): weighbridges read to about 0.1 %,
    # product densities and filling meters vary by a percent or two.
    load_tolerance_fraction: float = Field(0.02, ge=0, le=0.5)
    load_tolerance_min_kg: float = Field(200.0, ge=0)
    # A booked tanker may pass the entry gate this long before its slot or after it (the call
    # from the waiting lot to the barrier, a queue running late).
    booking_grace_s: float = Field(900.0, ge=0)

    def check_policy(self) -> CheckPolicy:
        """The checks' limits for this gate (the defaults, with this section's choices)."""
        return CheckPolicy(
            no_enrolled_photo=self.no_enrolled_photo,
            weight_tolerance_fraction=self.load_tolerance_fraction,
            weight_tolerance_min_kg=self.load_tolerance_min_kg,
            booking_grace_s=self.booking_grace_s,
        )


class Jt808Settings(BaseModel):
    """The JT/T 808 terminal listener (gateway/jt808/, docs/jt808.md)."""

    # Runs inside `serve` roles all, gateway and worker (and alone as --role jt808). Off for
    # gateway processes beside another that already listens on the port.
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(6808, ge=0, le=65535)  # 0: any free port (tests)
    # Terminals send a heartbeat every minute or so (their parameter 0x0001); three missed
    # heartbeats and the connection is closed.
    idle_timeout_s: float = Field(180.0, gt=0)
    # The largest escaped frame accepted. A valid frame is at most 2092 bytes (a 1023-byte body
    # with every byte escaped); anything longer is refused and skipped up to its end flag.
    max_frame_bytes: int = Field(4096, ge=64)
    # Frames per second one connection may send on average, and in a burst (a terminal
    # catching up after a tunnel). Beyond it the connection is recorded as a flood and closed.
    rate_limit_per_s: float = Field(20.0, gt=0)
    rate_burst: int = Field(100, ge=1)
    max_connections: int = Field(10_000, ge=1)
    # Sub-packets of a long message must all arrive within this.
    subpacket_timeout_s: float = Field(60.0, gt=0)
    # Wrong auth codes on one connection before it is closed.
    max_auth_failures: int = Field(3, ge=1)
    # Refusals recorded for one connection before it is closed as hopeless.
    max_errors_per_connection: int = Field(50, ge=1)
    # Answers one connection may have waiting on storage (pipelined reports); beyond it the
    # listener stops reading that connection until the database catches up.
    max_pending_replies: int = Field(64, ge=1)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    auth: AuthSettings = Field(default_factory=AuthSettings)


class RiskPoints(BaseModel):
    """Points one record takes off a subject's monthly index (risk/index.py; docs/index.md)."""

    # Per reason of a failed entry, other than an expired document.
    entry_failed: float = Field(2.0, ge=0)
    # Per expired document found at the gate (licence, permit, qualification, inspection, waybill).
    document_expired: float = Field(5.0, ge=0)
    # The gate failed the vehicle and an officer let it in anyway.
    officer_override: float = Field(2.0, ge=0)
    # The gate passed (or asked for review) and an officer held the vehicle.
    officer_held: float = Field(5.0, ge=0)
    # Per alert on the vehicle's devices (or about the vehicle), by rule kind.
    alert: dict[str, float] = Field(
        default_factory=lambda: {"threshold": 3.0, "rate": 3.0, "absence": 1.0, "dwell": 2.0}
    )
    alert_default: float = Field(2.0, ge=0)
    # Per position violation (zone, speeding, stop, off_route) and per refused booking.
    position_violation: float = Field(3.0, ge=0)
    booking_refused: float = Field(1.0, ge=0)


class RiskIndexSettings(BaseModel):
    """Ningbo's carrier scheme: 100 points less deductions; green >= 90, red < 70."""

    start: float = Field(100.0, gt=0)
    green_min: float = 90.0
    red_below: float = 70.0
    points: RiskPoints = Field(default_factory=RiskPoints)

    @model_validator(mode="after")
    def _ordered(self) -> RiskIndexSettings:
        if not self.red_below <= self.green_min <= self.start:
            raise ConfigError(
                f"risk index thresholds red_below={self.red_below:g}, green_min={self.green_min:g},"
                f" start={self.start:g}",
                hint="need red_below <= green_min <= start (HAZGATE_SITE__INDEX__...)",
            )
        return self


class SiteSettings(BaseModel):
    """What differs per park: its time zone and place, response defaults, index points."""

    # The park's local time: months of the index and report, times on cards and in reports.
    timezone: str = "Asia/Shanghai"
    # A point of the park, for day or night when an incident has no position (optional).
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    # Night by the clock when no place is known: 17:00-07:00 covers sunset and sunrise all
    # year at 30 degrees north, erring towards night (whose distances are the larger).
    night_from: time = time(17, 0)
    night_until: time = time(7, 0)
    # The spill size a card shows unless asked (?spill=large): a leak alarm is most often a
    # leak from a large container, which ERG counts as a small spill.
    default_spill: Literal["small", "large"] = "small"
    index: RiskIndexSettings = Field(default_factory=RiskIndexSettings)

    @model_validator(mode="after")
    def _known_zone(self) -> SiteSettings:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"unknown time zone {self.timezone!r}", hint="use an IANA name such as Asia/Shanghai"
            ) from exc
        if (self.latitude is None) != (self.longitude is None):
            raise ConfigError("site latitude and longitude go together", hint="set both or neither")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class AlertsSettings(BaseModel):
    """Alerting adapters (alerts/evaluator.py, alerts/delivery.py); see docs/alerts.md."""

    # Absence, dwell, escalation, repeats and ended silences are checked this often; it also
    # bounds how long a rule changed through the API takes when the change notice is missed.
    tick_interval_s: float = Field(1.0, gt=0)
    # Escalation tier n goes out escalation_after_s[n-1] seconds after the firing notification
    # when nobody acknowledged; subscriptions with "tier": n receive it.
    escalation_after_s: list[float] = Field(default_factory=lambda: [300.0, 900.0])
    # Repeat notifications while firing and unacknowledged; null: no repeats.
    repeat_interval_s: float | None = Field(1800.0, gt=0)
    notify_acknowledged: bool = False
    # Webhook targets on loopback / private networks (the park's own duty systems) are allowed;
    # a deployment taking subscriptions from outside turns these off.
    allow_loopback_webhooks: bool = True
    allow_private_webhooks: bool = True
    # Timeout of one send (webhook POST, broker PUBACK, SMTP session).
    webhook_timeout_s: float = Field(5.0, gt=0)
    # Failed sends are retried until accepted: after about 1, 2, 4 ... s, then every retry_max_s.
    retry_base_s: float = Field(1.0, gt=0)
    retry_max_s: float = Field(300.0, gt=0)
    delivery_workers: int = Field(4, ge=1, le=64)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "hazgate@localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # The evaluation state and cursors are saved with every alert change, and otherwise this often.
    checkpoint_interval_s: float = Field(1.0, gt=0)
    # Evaluator processes look at who is alive and take or hand over partitions this often; it
    # bounds how long the partitions of a process that died wait for a new owner.
    rebalance_interval_s: float = Field(1.0, gt=0)
    # Warn (naming the blocking backend) when a long transaction holds evaluation back this long.
    lag_warn_s: float = Field(10.0, gt=0)
    # Critical notifications of alerts involving a substance carry the response card.
    response_cards: bool = True
    # The site settings (Settings.for_site), set by Settings itself: the outbox builds cards.
    _site_for: Callable[[str | None], SiteSettings] | None = PrivateAttr(None)

    @property
    def site_for(self) -> Callable[[str | None], SiteSettings] | None:
        return self._site_for


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HAZGATE_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    database_url: SecretStr | None = None
    mqtt_url: str | None = None
    api_port: int = Field(8000, ge=1, le=65535)
    state_dir: Path = Field(default_factory=default_state_dir)
    log_level: str = "INFO"

    services: ServicesSettings = Field(default_factory=ServicesSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    faces: FaceSettings = Field(default_factory=FaceSettings)
    jt808: Jt808Settings = Field(default_factory=Jt808Settings)
    # Park settings: HAZGATE_SITE__TIMEZONE=..., HAZGATE_SITE__INDEX__GREEN_MIN=...; a site that
    # differs gets its own whole entry: HAZGATE_SITES='{"north": {"timezone": "Asia/Shanghai"}}'.
    site: SiteSettings = Field(default_factory=SiteSettings)
    sites: dict[str, SiteSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _point_at_local_services(self) -> Settings:
        """An unset broker URL defaults to the one `hazgate services up` runs here. (Unset
        passwords are read from the local secrets when used, see db_url and mqtt_password: on a
        first run they are made only after these settings exist.)"""
        self.alerts._site_for = self.for_site
        if self.mqtt_url is None:
            self.mqtt_url = f"mqtt://127.0.0.1:{self.services.mqtt_port}"
        parts = urlsplit(self.mqtt_url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(
                f"HAZGATE_MQTT_URL={self.mqtt_url!r} is not an mqtt:// URL",
                hint="use e.g. mqtt://127.0.0.1:18830 (mqtts:// for TLS)",
            )
        self._check_tls(parts.scheme == "mqtts")
        return self

    def for_site(self, site: str | None) -> SiteSettings:
        """The settings of ``site``: its own entry in ``sites``, else the common ``site``."""
        return self.sites.get(site, self.site) if site else self.site

    def _check_tls(self, tls: bool) -> None:
        cfg = self.mqtt
        files = {
            "HAZGATE_MQTT__TLS_CA_FILE": cfg.tls_ca_file,
            "HAZGATE_MQTT__TLS_CERT_FILE": cfg.tls_cert_file,
            "HAZGATE_MQTT__TLS_KEY_FILE": cfg.tls_key_file,
        }
        given = [name for name, path in files.items() if path is not None]
        if given and not tls:
            # A certificate setting with a plain-text URL is a mistake: never fall back silently.
            raise ConfigError(
                f"{', '.join(given)} set, but HAZGATE_MQTT_URL={self.mqtt_url!r} is plain text",
                hint="use an mqtts:// URL for TLS, or unset the TLS settings",
            )
        for name, path in files.items():
            if path is not None and not path.is_file():
                raise ConfigError(f"{name}={path} is not a readable file", hint=f"point {name} at the PEM file")
        if (cfg.tls_cert_file is None) != (cfg.tls_key_file is None):
            raise ConfigError(
                "a client certificate needs both HAZGATE_MQTT__TLS_CERT_FILE and HAZGATE_MQTT__TLS_KEY_FILE",
                hint="set both, or neither",
            )

    @property
    def db_url(self) -> str:
        """HAZGATE_DATABASE_URL, or the local TimescaleDB with the password from secrets.json."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        password = read_local_secrets(self.state_dir).get("db_password", "")
        auth = f"hazgate:{password}@" if password else "hazgate@"
        return f"postgresql://{auth}127.0.0.1:{self.services.db_port}/hazgate"

    @property
    def mqtt_host(self) -> str:
        return urlsplit(self.mqtt_url or "").hostname or "127.0.0.1"

    @property
    def mqtt_port(self) -> int:
        return urlsplit(self.mqtt_url or "").port or (MQTTS_PORT if self.mqtt_tls else MQTT_PORT)

    @property
    def mqtt_tls(self) -> bool:
        return urlsplit(self.mqtt_url or "").scheme == "mqtts"

    @property
    def mqtt_password(self) -> str:
        if self.mqtt.password is not None:
            return self.mqtt.password.get_secret_value()
        return read_local_secrets(self.state_dir).get("mqtt_password", "")


def read_local_secrets(state_dir: Path) -> dict[str, str]:
    path = state_dir / SECRETS_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}",
            hint="remove the file and run `hazgate services up` to create it again",
        ) from exc
    return {str(k): str(v) for k, v in data.items()}
