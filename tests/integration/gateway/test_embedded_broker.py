"""The embedded amqtt broker with the real gateway: paho publisher -> broker -> Gateway -> rows."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from amqtt.plugins.base import BaseAuthPlugin
from sqlalchemy import Engine

from core.clock import ManualClock
from core.settings import Settings
from gateway.broker import EmbeddedBroker
from gateway.service import Gateway
from tests.integration.gateway.mqtt_helpers import (
    Publisher,
    reading_payload,
    readings_for,
    unique,
    wait_until,
)


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(0) as b:
        yield b


def embedded_settings(broker: EmbeddedBroker, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mqtt_url": None,
        "mqtt_embedded_port": broker.port,
        "mqtt_client_id": unique("anbu-test-gw"),
        **overrides,
    }
    return Settings(_env_file=None, **values)


def _refuses_connections(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_broker_starts_on_a_free_port_and_stops_cleanly() -> None:
    broker = EmbeddedBroker(0)
    broker.start()
    assert broker.port > 0 and broker.running
    publisher = Publisher(broker.url)
    publisher.publish("anbu/x/status", b"online")
    publisher.close()
    broker.stop()
    assert not broker.running
    assert _refuses_connections(broker.port)
    broker.stop()  # idempotent


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_broker_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        EmbeddedBroker(1883, host=host)


def test_start_fails_loudly_when_the_port_is_taken(broker: EmbeddedBroker) -> None:
    with pytest.raises(RuntimeError, match="failed to start"):
        EmbeddedBroker(broker.port).start()


def test_end_to_end_every_message_stored_exactly_once(
    broker: EmbeddedBroker, engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The delivery probe has its own tests (test_link_watch, test_gateway_reliability); on a
    # loaded CI machine amqtt can hold a QoS 0 probe past 5 s, and the reconnect that follows is
    # not what this test is about.
    monkeypatch.setattr(Gateway, "probe_timeout_s", 120.0)
    settings = embedded_settings(broker)
    gateway = Gateway(settings, engine, clock)
    gateway.start()
    publisher = Publisher(broker.url)
    try:
        assert gateway.wait_connected(10)
        device = unique("e2e")
        start = clock.now() - timedelta(hours=1)
        payloads = [reading_payload(start + timedelta(seconds=i), float(i % 7) * 100) for i in range(60)]
        for payload in payloads:
            publisher.publish(f"anbu/{device}/reading", payload)
        for payload in payloads[:15]:  # the device resends (its own QoS 1 retry)
            publisher.publish(f"anbu/{device}/reading", payload)
        publisher.publish(f"anbu/{device}/reading", b"{broken")
        publisher.publish(f"anbu/{device}/reading", b'{"v":1,"power_w":-1}')

        # At least 77 deliveries: a broker may deliver a message again when the gateway's PUBACK
        # (sent only once the message is stored) is late, as on a loaded machine; every extra
        # delivery is a duplicate (or, for the two bad payloads, recorded again), never a reading.
        def settled() -> dict[str, Any] | None:
            m = gateway.metrics()
            done = m["acked"] >= 77 and m["acked"] == m["received"] and m["queue_depth"] == 0
            return m if done else None

        wait_until(lambda: settled() is not None, what="all 77 messages (and any redelivery) acked")
        metrics = settled()
        assert metrics is not None, "a redelivery arrived in between; wait_until saw it settled"
        extra = metrics["received"] - 77
        assert metrics["stored"] == 60
        assert metrics["duplicates"] + metrics["rejected"] == 17 + extra
        assert metrics["duplicates"] >= 15 and metrics["rejected"] >= 2
        assert metrics["connected"] is True and metrics["batches"] >= 1
        assert readings_for(engine, device) == (60, 60)
    finally:
        publisher.close()
        gateway.stop()
    assert gateway.metrics()["connected"] is False


def test_gateway_session_survives_a_restart(
    broker: EmbeddedBroker, sqlite_engine: Engine, clock: ManualClock
) -> None:
    settings = embedded_settings(broker)
    first = Gateway(settings, sqlite_engine, clock)
    first.start()
    assert first.wait_connected(10)
    first.stop()

    # Published while no gateway is connected: the broker queues them for our persistent session.
    device = unique("offline")
    publisher = Publisher(broker.url)
    start = clock.now() - timedelta(minutes=30)
    for i in range(30):
        publisher.publish(f"anbu/{device}/reading", reading_payload(start + timedelta(seconds=i), 5.0))
    publisher.close()

    second = Gateway(settings, sqlite_engine, clock)
    second.start()
    try:
        wait_until(lambda: readings_for(sqlite_engine, device)[0] == 30, what="queued messages stored")
        assert second.metrics()["received"] == 30
    finally:
        second.stop()


def test_external_url_tries_mqtt5_and_falls_back_to_311(
    broker: EmbeddedBroker, sqlite_engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Configured as an *external* broker, the gateway starts with MQTT 5; amqtt never answers it.
    monkeypatch.setattr(Gateway, "v5_connack_timeout_s", 0.5)
    settings = Settings(_env_file=None, mqtt_url=broker.url, mqtt_client_id=unique("anbu-test-gw"))
    gateway = Gateway(settings, sqlite_engine, clock)
    gateway.start()
    publisher = Publisher(broker.url)
    try:
        assert gateway.wait_connected(15)
        device = unique("fallback")
        publisher.publish(f"anbu/{device}/reading", reading_payload(clock.now(), 42.0))
        wait_until(lambda: readings_for(sqlite_engine, device)[0] == 1, what="reading over MQTT 3.1.1")
    finally:
        publisher.close()
        gateway.stop()


class CountingRefusal(BaseAuthPlugin):  # type: ignore[misc]
    attempts = 0

    @dataclass
    class Config:
        pass

    async def authenticate(self, *, session: Any) -> bool:
        CountingRefusal.attempts += 1
        return False


class RefusingBroker(EmbeddedBroker):
    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["plugins"] = {f"{__name__}.CountingRefusal": {}}
        return cfg


def test_auth_failure_stops_retrying_loudly(
    sqlite_engine: Engine, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    CountingRefusal.attempts = 0
    with RefusingBroker(0) as refusing:
        gateway = Gateway(embedded_settings(refusing), sqlite_engine, clock)
        gateway.start()
        try:
            assert gateway.wait_connected(10) is False
            assert gateway.fatal_error is not None and "not authorized" in gateway.fatal_error
            assert gateway.metrics()["auth_failed"] is True
            client = gateway._client
            assert client is not None
            wait_until(lambda: client._thread is None, what="paho network loop to give up")
            assert CountingRefusal.attempts == 1
            assert any(r.levelname == "CRITICAL" and "NOT retrying" in r.getMessage() for r in caplog.records)
        finally:
            gateway.stop()
