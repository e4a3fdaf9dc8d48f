"""mqtts:// against a private Mosquitto with a TLS listener and a CA made by the test (openssl)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceVendor
from gateway.auth import credentials
from gateway.service import Gateway
from tests.factories import prod_settings
from tests.integration.gateway.mosquitto_harness import DynsecMosquitto, needs_mosquitto
from tests.integration.gateway.mqtt_helpers import reading_payload, readings_for, unique, wait_until
from tests.integration.gateway.trust_harness import connect

pytestmark = [
    needs_mosquitto,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary"),
]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for localhost signed by it: (ca.pem, server.pem, server.key)."""
    directory.mkdir(parents=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Anbu test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=directory,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=directory,
    )
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
        cwd=directory,
    )
    for key in ("ca.key", "server.key"):
        (directory / key).chmod(0o600)
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


def test_gateway_and_plug_over_tls_with_a_private_ca(
    tmp_path: Path, sqlite_engine: Engine, clock: ManualClock
) -> None:
    ca, cert, key = make_ca(tmp_path / "pki")
    base = prod_settings()
    device = unique("kettle")
    with session_scope(sqlite_engine) as s:
        issued = credentials.add(s, DeviceVendor.NATIVE, device, settings=base, now=clock.now())
    broker = DynsecMosquitto(tmp_path / "mosquitto", base, sqlite_engine, certfile=cert, keyfile=key)
    broker.start()
    url = broker.env["ANBU_MQTT_URL"].replace("mqtt://", "mqtts://").replace("@127.0.0.1:", "@localhost:")
    settings = base.model_copy(
        update={"mqtt_url": url, "mqtt_client_id": broker.env["ANBU_MQTT_CLIENT_ID"], "mqtt_tls_ca_file": ca}
    )
    assert broker.env["ANBU_MQTT_DEVICE_URL"].startswith("mqtts://")
    gateway = Gateway(settings, sqlite_engine, clock)
    gateway.start()
    try:
        assert gateway.wait_connected(15), broker.log()[-2000:]
        plug = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="plug")
        plug.username_pw_set(issued.username, issued.password)
        plug.tls_set(ca_certs=str(ca))
        plug.connect("localhost", broker.port)
        plug.loop_start()
        plug.publish(
            f"anbu/{device}/reading", reading_payload(clock.now() - timedelta(minutes=1), 40.0), qos=1
        ).wait_for_publish(10)
        plug.loop_stop()
        plug.disconnect()
        wait_until(lambda: readings_for(sqlite_engine, device)[0] == 1, what="the reading over TLS")

        # A client that does not trust the private CA gets no connection at all.
        stranger = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="stranger")
        stranger.tls_set()  # the system's CAs
        with pytest.raises(ssl.SSLError):
            stranger.connect("localhost", broker.port)
        # Nor does plain MQTT on the TLS port: the broker closes it without a CONNACK.
        plain = connect("localhost", broker.port, username=issued.username, password=issued.password)
        plain.close()
        assert plain.connack is None
    finally:
        gateway.stop()
        broker.stop()
