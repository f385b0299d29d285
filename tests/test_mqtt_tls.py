"""`mqtts://` means TLS with the broker's certificate checked, in every MQTT client hazgate makes.

Issue 10: mqtts:// URLs were accepted, but no client called tls_set: the connection was plain
text. Here a Mosquitto TLS listener on loopback, with a CA and a server certificate this test
makes (openssl), is reached with the right CA, and refused with a clear reason for a wrong CA
and for a host name the certificate does not name.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from devices import registry
from gateway.mqtt_client import forget_session
from hazgate.broker_client import new_client
from hazgate.errors import ConfigError
from hazgate.mqtt_probe import probe_broker
from hazgate.services.local import LocalServices, ensure_secrets, registered_device_accounts
from hazgate.services.mosquitto import Mosquitto, TlsListener
from hazgate.settings import Settings
from tests.fixtures.mqtt import wait_until
from tests.fixtures.processes import GatewayProcess
from tests.fixtures.services import free_port, make_settings

LEAF_EXTENSIONS = """subjectAltName=DNS:localhost
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
"""


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return key, cert


def make_server_cert(directory: Path, ca_key: Path, ca_cert: Path) -> tuple[Path, Path]:
    """A certificate for `localhost` (and nothing else), signed by the CA."""
    key, csr, cert, ext = (directory / n for n in ("server.key", "server.csr", "server.pem", "server.ext"))
    ext.write_text(LEAF_EXTENSIONS)
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=localhost",
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext,
    )  # fmt: skip
    return key, cert


@dataclass
class TlsBroker:
    mosquitto: Mosquitto
    ca: Path
    wrong_ca: Path
    tls_port: int
    db_url: str

    def settings(self, host: str = "localhost", ca: Path | None = None) -> Settings:
        return make_settings(
            database_url=self.db_url,
            mqtt_url=f"mqtts://{host}:{self.tls_port}",
            mqtt={"tls_ca_file": ca or self.ca},
        )


@pytest.fixture(scope="module")
def tls_broker(
    settings: Settings, local_services: LocalServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsBroker]:
    directory = tmp_path_factory.mktemp("tls")
    ca_key, ca = make_ca(directory, "hazgate-test-ca")
    _, wrong_ca = make_ca(directory, "some-other-ca")
    server_key, server_cert = make_server_cert(directory, ca_key, ca)
    tls_port = free_port()
    broker = Mosquitto(directory, free_port(), tls=TlsListener(tls_port, server_cert, server_key))
    broker.up([local_services.service_account(ensure_secrets(local_services.settings.state_dir))])
    yield TlsBroker(broker, ca, wrong_ca, tls_port, settings.db_url)
    broker.down()


def test_clients_connect_over_tls_with_the_ca_that_signed_the_broker(tls_broker: TlsBroker) -> None:
    assert probe_broker(tls_broker.settings()) is None


def test_a_broker_signed_by_another_ca_is_refused_saying_which_setting_to_fix(tls_broker: TlsBroker) -> None:
    problem = probe_broker(tls_broker.settings(ca=tls_broker.wrong_ca))
    assert problem is not None
    assert "not trusted" in problem and "HAZGATE_MQTT__TLS_CA_FILE" in problem


def test_a_certificate_for_another_host_name_is_refused_saying_so(tls_broker: TlsBroker) -> None:
    problem = probe_broker(tls_broker.settings(host="127.0.0.1"))  # the certificate names localhost only
    assert problem is not None
    assert "does not name the host '127.0.0.1'" in problem and "HAZGATE_MQTT_URL" in problem


def test_a_reading_travels_over_tls_from_device_to_database(
    tls_broker: TlsBroker, local_services: LocalServices, db: psycopg.Connection, tmp_path: Path
) -> None:
    settings = tls_broker.settings()
    site = f"tls{uuid.uuid4().hex[:6]}"
    with psycopg.connect(settings.db_url) as conn:
        creds = registry.add_device(conn, site, f"tank-{uuid.uuid4().hex[:6]}", "tank_sensor", None)
    secrets = ensure_secrets(local_services.settings.state_dir)
    tls_broker.mosquitto.write_auth(
        [local_services.service_account(secrets), *registered_device_accounts(settings.db_url)]
    )
    gateway = GatewayProcess(
        settings,
        tmp_path,
        HAZGATE_MQTT__TLS_CA_FILE=str(tls_broker.ca),
        HAZGATE_MQTT__SHARE_GROUP=site,
    )
    device = new_client(settings, creds.device_id, username=creds.device_id, password=creds.password)
    try:
        wait_until(lambda: gateway.client_id, 30)
        device.connect(settings.mqtt_host, settings.mqtt_port)
        device.loop_start()
        reading = {"ts": datetime.now(UTC).isoformat(), "seq": 1, "values": {"tank_pressure_kpa": 650.0}}
        topic = f"hazgate/v1/{site}/devices/{creds.device_id}/telemetry"
        device.publish(topic, json.dumps(reading), qos=1).wait_for_publish(10)
        wait_until(
            lambda: (
                db.execute("SELECT count(*) FROM telemetry WHERE device_id = %s", (creds.device_id,)).fetchone() == (1,)
            ),
            20,
        )
    finally:
        device.disconnect()
        device.loop_stop()
        gateway.stop()
        if gateway.client_id:
            forget_session(settings, gateway.client_id)


def test_a_gateway_that_cannot_trust_the_broker_stops_at_start_up_with_the_reason(
    tls_broker: TlsBroker, tmp_path: Path
) -> None:
    settings = tls_broker.settings(ca=tls_broker.wrong_ca)
    gateway = GatewayProcess(settings, tmp_path, HAZGATE_MQTT__TLS_CA_FILE=str(tls_broker.wrong_ca))
    assert gateway.proc.wait(60) == 1
    assert "not trusted" in gateway.log and "HAZGATE_MQTT__TLS_CA_FILE" in gateway.log
    assert gateway.connections() == 0


def test_certificate_settings_with_a_plain_text_url_are_a_configuration_error(tls_broker: TlsBroker) -> None:
    with pytest.raises(ConfigError) as refused:
        make_settings(mqtt_url="mqtt://127.0.0.1:1883", mqtt={"tls_ca_file": tls_broker.ca})
    assert "plain text" in refused.value.message and "HAZGATE_MQTT__TLS_CA_FILE" in refused.value.message
    with pytest.raises(ConfigError) as missing:
        make_settings(mqtt_url="mqtts://localhost:8883", mqtt={"tls_ca_file": Path("/nonexistent/ca.pem")})
    assert "HAZGATE_MQTT__TLS_CA_FILE" in missing.value.message
