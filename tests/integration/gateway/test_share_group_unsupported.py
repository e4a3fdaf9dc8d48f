"""Issue 15.4: a broker that accepts ``$share/...`` subscriptions and delivers nothing on them (NATS,
on this machine) must be caught when the gateway starts, not discovered by missing alarms.

Measured on NATS 2 with MQTT: two gateways with ANBU_MQTT_SHARE_GROUP stored 0 of 200 readings while
both logged "subscribed". The gateway's delivery probe now travels through the share group, so on
such a broker no probe ever comes back: the gateway says so (CRITICAL) and is not ready. The same
broker without a share group delivers, and the probe proves it.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.clock import SYSTEM_CLOCK
from core.settings import Settings
from gateway.health import readiness
from gateway.service import Gateway
from tests.integration.gateway.mqtt_helpers import unique, wait_until

pytestmark = pytest.mark.skipif(shutil.which("nats-server") is None, reason="nats-server is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def nats_mqtt_url(tmp_path: Path) -> Iterator[str]:
    """A private NATS server with JetStream and its MQTT listener, on free loopback ports."""
    mqtt_port = _free_port()
    config = tmp_path / "nats.conf"
    config.write_text(
        f"listen: 127.0.0.1:{_free_port()}\n"
        f"server_name: anbu-test-{mqtt_port}\n"
        f'jetstream {{ store_dir: "{tmp_path / "js"}" }}\n'
        f"mqtt {{ listen: 127.0.0.1:{mqtt_port} }}\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        ["nats-server", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", mqtt_port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_until(listening, timeout=20, what="NATS MQTT listener")
        yield f"mqtt://127.0.0.1:{mqtt_port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _gateway(url: str, engine: Engine, group: str | None) -> Gateway:
    settings = Settings(
        _env_file=None,
        mqtt_url=url,
        mqtt_client_id=unique("anbu-test-gw"),
        mqtt_share_group=group,
    )
    gateway = Gateway(settings, engine, SYSTEM_CLOCK)
    gateway.probe_timeout_s = 1.0  # instance attributes: read when the link watch is built
    gateway.v5_connack_timeout_s = 2.0  # NATS speaks MQTT 3.1.1 only
    return gateway


def test_a_broker_that_ignores_shared_subscriptions_is_caught_at_start(
    nats_mqtt_url: str,
    sqlite_engine: Engine,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another test in this worker may have configured logging (dictConfig disables loggers that
    # exist then): make sure the gateway's records reach caplog.
    service_log = logging.getLogger("gateway.service")
    monkeypatch.setattr(service_log, "disabled", False)
    monkeypatch.setattr(service_log, "propagate", True)
    caplog.set_level(logging.CRITICAL, logger="gateway.service")
    gateway = _gateway(nats_mqtt_url, sqlite_engine, unique("grp"))
    gateway.start()
    try:
        assert gateway.wait_connected(30)  # "subscribed": the broker accepted the $share filters
        wait_until(
            lambda: gateway.metrics()["share_group_unverified"] is True,
            timeout=60,
            what="the share group found not to deliver",
        )
        verdict = readiness(gateway.metrics())
        assert verdict["ok"] is False and verdict["share_group_unverified"] is True
        assert any(
            r.levelname == "CRITICAL" and "does not deliver on them" in r.getMessage() for r in caplog.records
        )
    finally:
        gateway.stop()


def test_the_same_broker_without_a_share_group_proves_its_delivery(
    nats_mqtt_url: str, sqlite_engine: Engine
) -> None:
    gateway = _gateway(nats_mqtt_url, sqlite_engine, None)
    gateway.start()
    try:
        assert gateway.wait_connected(30)
        wait_until(lambda: gateway.metrics()["delivery_verified"] is True, timeout=30, what="a probe back")
        assert gateway.metrics()["share_group_unverified"] is False
        assert readiness(gateway.metrics())["share_group_unverified"] is False
    finally:
        gateway.stop()
