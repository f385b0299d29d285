"""Every MQTT client hazgate makes is built here: broker address, TLS, credentials.

The gateway, the API's command publisher and live feed, the alert MQTT channel, the probe, the
simulator and the benchmarks all call :func:`new_client` (or :func:`configure` on a client they
build themselves), so an ``mqtts://`` URL means TLS with the broker's certificate checked
everywhere: CERT_REQUIRED against ``HAZGATE_MQTT__TLS_CA_FILE`` (or the system's CAs) and the
certificate's names against the URL's host.
"""

from __future__ import annotations

import os
import socket
import ssl
import uuid
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hazgate.errors import ConfigError
from hazgate.settings import Settings

# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH (OpenSSL): the certificate is
# valid but names another host.
NAME_MISMATCH = frozenset({62, 64})


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for an mqtts:// URL (None for mqtt://)."""
    if not settings.mqtt_tls:
        return None
    cfg = settings.mqtt
    try:
        # create_default_context: CERT_REQUIRED and check_hostname, TLS 1.2 or later.
        context = ssl.create_default_context(cafile=str(cfg.tls_ca_file) if cfg.tls_ca_file else None)
        if cfg.tls_cert_file is not None:
            context.load_cert_chain(str(cfg.tls_cert_file), str(cfg.tls_key_file) if cfg.tls_key_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the MQTT TLS files: {exc}",
            hint="HAZGATE_MQTT__TLS_CA_FILE (and _CERT_FILE/_KEY_FILE) must be PEM files",
        ) from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def configure(client: mqtt.Client, settings: Settings, *, username: str | None = None, password: str = "") -> None:
    """Credentials (the service account unless a device's are given) and TLS for the URL."""
    if username is None:
        client.username_pw_set(settings.mqtt.username, settings.mqtt_password)
    else:
        client.username_pw_set(username, password)
    context = tls_context(settings)
    if context is not None:
        client.tls_set_context(context)


def new_client(
    settings: Settings,
    client_id: str,
    *,
    username: str | None = None,
    password: str = "",
    protocol: str = "3.1.1",
    clean_session: bool = True,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho client for the broker of ``settings`` (MQTT 5: clean start is set at connect)."""
    client = bare_client(client_id, protocol=protocol, clean_session=clean_session, manual_ack=manual_ack)
    configure(client, settings, username=username, password=password)
    return client


def bare_client(
    client_id: str, *, protocol: str = "3.1.1", clean_session: bool = True, manual_ack: bool = False
) -> mqtt.Client:
    """A paho client without credentials or TLS, for callers that set their own (the broker's
    own start-up on loopback, hazgate/services/rearm.py); everyone else: :func:`new_client`."""
    v5 = protocol == "5"
    return mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else clean_session,
        manual_ack=manual_ack,
    )


def unique_client_id(role: str) -> str:
    """For clients without a session of their own (publishers, probes, live feeds)."""
    return f"hazgate-{role}-{socket.gethostname().split('.')[0][:24]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class ConnectProblem:
    message: str
    # True when retrying cannot help (an untrusted or misnamed certificate): a start-up error.
    permanent: bool


def explain(settings: Settings, exc: BaseException) -> ConnectProblem:
    """A connection failure told the way an operator can act on it."""
    where = f"{settings.mqtt_host}:{settings.mqtt_port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in NAME_MISMATCH:
            return ConnectProblem(
                f"the broker's TLS certificate at {where} does not name the host {settings.mqtt_host!r}"
                f" ({exc.verify_message}): use the host name the certificate was made for in HAZGATE_MQTT_URL",
                permanent=True,
            )
        ca = settings.mqtt.tls_ca_file or "the system's trusted CAs"
        return ConnectProblem(
            f"the broker's TLS certificate at {where} is not trusted ({exc.verify_message}):"
            f" HAZGATE_MQTT__TLS_CA_FILE must be the CA that signed it (now: {ca})",
            permanent=True,
        )
    if isinstance(exc, ssl.SSLError):
        return ConnectProblem(
            f"TLS handshake with the broker at {where} failed ({exc.reason or exc}):"
            " is it a TLS listener, and does it accept our client certificate?",
            permanent=False,
        )
    if isinstance(exc, OSError):
        return ConnectProblem(f"cannot reach the broker at {where}: {exc.strerror or exc}", permanent=False)
    return ConnectProblem(f"cannot connect to the broker at {where}: {exc}", permanent=False)


def diagnose(settings: Settings, timeout_s: float = 3.0) -> ConnectProblem | None:
    """Why a TCP (and, for mqtts://, TLS) connection to the broker fails now; None if it works.

    paho's background reconnects swallow the exception; its on_connect_fail callback calls this
    to say why.
    """
    try:
        context = tls_context(settings)
        with socket.create_connection((settings.mqtt_host, settings.mqtt_port), timeout_s) as sock:
            if context is not None:
                with context.wrap_socket(sock, server_hostname=settings.mqtt_host):
                    pass
    except ConfigError as exc:
        return ConnectProblem(str(exc), permanent=True)
    except OSError as exc:
        return explain(settings, exc)
    return None
