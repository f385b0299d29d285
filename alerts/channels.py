"""Senders for each subscription channel (adapter): webhook, MQTT topic, e-mail.

Each ``send`` either returns (the receiver has the notification: HTTP 2xx, broker PUBACK, SMTP
accepted) or raises :class:`DeliveryError` saying why; the outbox retries it later.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import smtplib
import socket
import threading
from email.message import EmailMessage
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from alerts.errors import AlertsError, UnsafeUrlError
from alerts.models import EmailSubscription, MqttSubscription, Subscription, WebhookSubscription
from alerts.payload import webhook_headers
from alerts.urlcheck import IPAddress, UrlPolicy, check_address, check_webhook_url
from hazgate.broker_client import new_client, unique_client_id
from hazgate.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class DeliveryError(AlertsError):
    """A notification did not reach its receiver this time; the outbox tries again later."""


# --- webhook -------------------------------------------------------------------------------------


def resolve_checked(host: str, port: int, policy: UrlPolicy) -> list[IPAddress]:
    """The host's addresses, each passed through the URL policy. One refused address refuses the
    name: a name that also points at a metadata service is not one to trust with a choice."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addrs = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise DeliveryError(f"cannot resolve {host}: {exc}") from exc
        addrs = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))
    for addr in addrs:
        try:
            check_address(addr, policy)
        except UnsafeUrlError as exc:
            raise DeliveryError(f"{host} resolves to a refused address: {exc}") from exc
    if not addrs:
        raise DeliveryError(f"{host} has no address")
    return addrs


class WebhookSender:
    """POST the signed body to the address we resolved and checked, never to a fresh lookup.

    The URL is rewritten to that address; ``Host`` and TLS SNI (and so certificate checking)
    keep the name. Redirects are not followed: a 3xx could point anywhere, metadata included.
    One sender per worker thread (its own connection pool).
    """

    def __init__(self, policy: UrlPolicy, timeout_s: float) -> None:
        self.policy = policy
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def send(self, sub: WebhookSubscription, payload: bytes, delivery_id: str) -> None:
        try:
            url = check_webhook_url(sub.url, self.policy)
        except UnsafeUrlError as exc:
            raise DeliveryError(str(exc)) from exc
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or DEFAULT_PORTS[parts.scheme.lower()]
        addr = resolve_checked(host, port, self.policy)[0]
        netloc = f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        headers = {**webhook_headers(payload, sub.secret.get_secret_value(), delivery_id), "Host": parts.netloc}
        extensions = {"sni_hostname": host} if parts.scheme.lower() == "https" else {}
        try:
            response = self.client.post(target, content=payload, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"POST {url} failed: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryError(f"POST {url} answered HTTP {response.status_code}")


# --- MQTT ------------------------------------------------------------------------------------------


class MqttPublisher:
    """Publishes alert bodies with the service account, on a client of its own.

    Its own client (not the gateway's) because the alert service also runs where no gateway does
    and because the gateway's session acknowledges by hand. Thread-safe: paho's publish is.
    """

    def __init__(self, settings: Settings, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.connected = threading.Event()
        self.last_error: str | None = None
        # The shared constructor: service account, and TLS when the URL says mqtts://.
        self.client = new_client(settings, unique_client_id("alerts"))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._host, self._port = settings.mqtt_host, settings.mqtt_port
        self._started = False
        self._lock = threading.Lock()

    def _ensure_started(self) -> None:
        # Connect on first use: most deployments have no MQTT subscription at all.
        with self._lock:
            if not self._started:
                self.client.connect_async(self._host, self._port, keepalive=30)
                self.client.loop_start()
                self._started = True

    def close(self) -> None:
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()

    def send(self, sub: MqttSubscription, payload: bytes, _delivery_id: str) -> None:
        self._ensure_started()
        if not self.connected.wait(self.timeout_s):
            raise DeliveryError(f"not connected to the broker: {self.last_error or 'connecting'}")
        info = self.client.publish(sub.topic, payload, qos=sub.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise DeliveryError(f"publish to {sub.topic} refused: {mqtt.error_string(info.rc)}")
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"publish to {sub.topic} failed: {exc}") from exc
        if not info.is_published():
            raise DeliveryError(f"the broker did not acknowledge the publish to {sub.topic} in {self.timeout_s:g} s")

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            logger.error("alert MQTT channel: %s (check HAZGATE_MQTT__USERNAME / PASSWORD)", self.last_error)
            return
        self.last_error = None
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        self.connected.clear()
        self.last_error = f"disconnected: {reason}"


# --- e-mail ----------------------------------------------------------------------------------------


def email_message(payload: bytes, to: str, sender: str, delivery_id: str) -> EmailMessage:
    body = json.loads(payload)
    note = body.get("notification") or {}
    what = note.get("kind", body.get("state", "alert"))
    subject_of = body.get("device_id") or body.get("subject") or ""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    severity = str(body.get("severity", "")).upper()
    msg["Subject"] = f"[hazgate] {severity} {what}: {body.get('rule')} {subject_of}".strip()
    # The same Message-ID on every retry lets mail systems drop a second copy.
    msg["Message-ID"] = f"<{delivery_id}@hazgate>"
    msg["X-Hazgate-Delivery"] = delivery_id
    lines = [
        str(body.get("summary") or ""),
        "",
        f"state: {body.get('state')}   severity: {body.get('severity')}   site: {body.get('site')}",
        f"started: {body.get('started_at')}   updated: {body.get('updated_at')}",
        *response_lines(body.get("response")),
        "",
        json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True),
    ]
    msg.set_content("\n".join(lines))
    return msg


def response_lines(card: object) -> list[str]:
    """The response card (emergency/card.py) as plain text for an e-mail; [] without one."""
    if not isinstance(card, dict):
        return []
    sub = card.get("substance") or {}
    name = " / ".join(str(n) for n in (sub.get("name_zh"), sub.get("name_en")) if n)
    guide = card.get("erg_guide")
    out = ["", f"RESPONSE: {card.get('un')} {name}".rstrip()]
    out.append(f"ERG guide {guide}: {card.get('guide_title')}" if guide else "No ERG guide is known.")
    night = "night" if card.get("is_night") else "day"
    out.append(
        f"{card.get('spill')} spill, {night}: isolate {card.get('isolation_m')} m, protect downwind "
        f"{card.get('protective_m')} m, fire {card.get('fire_isolation_m')} m"
    )
    inside = card.get("inside") or []
    out.append(
        f"inside {card.get('radius_m')} m: "
        + (", ".join(f"{i['kind']} {i['id']} {i['distance_m']:.0f} m" for i in inside) or "nothing known")
    )
    points = card.get("assembly_points") or []
    if points:
        out.append(
            "assembly points: " + ", ".join(f"{p.get('name') or p['id']} {p['distance_m']:.0f} m" for p in points)
        )
    for key, label in (("hazards", "Hazards"), ("public_safety", "Public safety"), ("first_aid", "First aid")):
        items = (card.get("guide") or {}).get(key) or []
        out.extend([f"{label}:", *(f"  - {item}" for item in items[:6])])
    out.extend(str(n) for n in card.get("notes") or [])
    return out


class SmtpSender:
    """One SMTP session per message (stdlib smtplib); alerts are rare enough not to pool."""

    def __init__(self, settings: Settings, timeout_s: float) -> None:
        self.cfg = settings.alerts
        self.timeout_s = timeout_s

    def send(self, sub: EmailSubscription, payload: bytes, delivery_id: str) -> None:
        msg = email_message(payload, sub.to, self.cfg.smtp_from, delivery_id)
        try:
            with smtplib.SMTP(self.cfg.smtp_host, self.cfg.smtp_port, timeout=self.timeout_s) as smtp:
                if self.cfg.smtp_starttls:
                    smtp.starttls()
                if self.cfg.smtp_username:
                    password = self.cfg.smtp_password.get_secret_value() if self.cfg.smtp_password else ""
                    smtp.login(self.cfg.smtp_username, password)
                smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            where = f"{self.cfg.smtp_host}:{self.cfg.smtp_port}"
            raise DeliveryError(f"SMTP {where} (HAZGATE_ALERTS__SMTP_HOST/PORT): {exc}") from exc


def send(
    sub: Subscription,
    payload: bytes,
    delivery_id: str,
    *,
    webhook: WebhookSender,
    mqtt_publisher: MqttPublisher,
    smtp: SmtpSender,
) -> None:
    if isinstance(sub, WebhookSubscription):
        webhook.send(sub, payload, delivery_id)
    elif isinstance(sub, MqttSubscription):
        mqtt_publisher.send(sub, payload, delivery_id)
    elif isinstance(sub, EmailSubscription):
        smtp.send(sub, payload, delivery_id)
    else:
        raise DeliveryError(f"channel {sub.channel!r} is served live, not from the outbox")
