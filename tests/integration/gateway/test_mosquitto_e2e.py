"""Against a real Mosquitto (ANBU_TEST_MQTT_URL): persistent MQTT 5 session, ack after commit.

Each test uses its own client id and its own topic prefixes (stat/ included), so tests running
side by side on the shared broker never see each other's traffic; each removes its session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from sqlalchemy import Engine

from core.clock import ManualClock
from core.settings import Settings
from gateway.service import Gateway
from tests.conftest import TEST_MQTT_URL, needs_mqtt
from tests.integration.gateway.mqtt_helpers import (
    Publisher,
    isolated_gateway_settings,
    reading_payload,
    readings_for,
    unique,
    wait_until,
)

pytestmark = needs_mqtt


@pytest.fixture
def mosquitto_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    with isolated_gateway_settings(monkeypatch, "t") as settings:
        yield settings


def _publish_in_background(
    publisher: Publisher,
    topic: str,
    payloads: Sequence[bytes],
    done: threading.Event,
    errors: list[BaseException],
    progress: list[int],
) -> threading.Thread:
    def run() -> None:
        try:
            for i, payload in enumerate(payloads):
                publisher.publish(topic, payload)
                progress[0] = i + 1
                if i % 5 == 4:
                    time.sleep(0.005)  # pacing, not synchronisation: keep traffic flowing during the stop
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_mqtt5_session_is_persistent(
    mosquitto_settings: Settings, sqlite_engine: Engine, clock: ManualClock
) -> None:
    gateway = Gateway(mosquitto_settings, sqlite_engine, clock)
    gateway.start()
    try:
        assert gateway.wait_connected(10)
        assert gateway.metrics()["generation"] == 1
    finally:
        gateway.stop()
    assert TEST_MQTT_URL
    device = unique("off")
    publisher = Publisher(TEST_MQTT_URL)
    for i in range(10):
        publisher.publish(
            f"{mosquitto_settings.mqtt_native_prefix}/{device}/reading",
            reading_payload(clock.now() - timedelta(seconds=i), 1.0),
        )
    publisher.close()
    again = Gateway(mosquitto_settings, sqlite_engine, clock)
    again.start()
    try:
        wait_until(lambda: readings_for(sqlite_engine, device) == (10, 10), what="queued messages delivered")
    finally:
        again.stop()


def test_stop_mid_stream_and_restart_stores_every_message_exactly_once(
    mosquitto_settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    assert TEST_MQTT_URL
    total = 400
    device = unique("stream")
    topic = f"{mosquitto_settings.mqtt_native_prefix}/{device}/reading"
    start = clock.now() - timedelta(hours=2)
    payloads = [reading_payload(start + timedelta(seconds=i), float(i % 3) * 500) for i in range(total)]

    first = Gateway(mosquitto_settings, engine, clock)
    first.start()
    assert first.wait_connected(10)
    publisher = Publisher(TEST_MQTT_URL, protocol=MQTTProtocolVersion.MQTTv5)
    done = threading.Event()
    errors: list[BaseException] = []
    progress = [0]
    thread = _publish_in_background(publisher, topic, payloads, done, errors, progress)
    try:
        wait_until(lambda: readings_for(engine, device)[0] >= 100, what="first 100 readings")
        published_at_stop = progress[0]
        first.stop()
        assert published_at_stop < total  # the device was still publishing when the gateway stopped
        committed_by_first = readings_for(engine, device)[0]
        assert first.metrics()["acked"] == committed_by_first  # everything committed was acked
        thread.join(30)
        assert done.is_set() and not errors

        second = Gateway(mosquitto_settings, engine, clock)
        second.start()
        try:
            rest = total - committed_by_first
            wait_until(
                lambda: second.metrics()["stored"] + second.metrics()["duplicates"] >= rest,
                timeout=30,
                what="the rest processed by the second gateway",
            )
            # A graceful stop loses no ack: nothing the first gateway stored comes back.
            assert (second.metrics()["stored"], second.metrics()["duplicates"]) == (rest, 0)
        finally:
            second.stop()
    finally:
        first.stop()
        publisher.close()
    assert readings_for(engine, device) == (total, total)


def test_commit_without_ack_is_redelivered_and_deduplicated(
    mosquitto_settings: Settings, sqlite_engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash window: rows committed, PUBACK never sent. The broker redelivers; nothing doubles."""
    assert TEST_MQTT_URL
    device = unique("crash")
    topic = f"{mosquitto_settings.mqtt_native_prefix}/{device}/reading"
    crashing = Gateway(mosquitto_settings, sqlite_engine, clock)
    monkeypatch.setattr(crashing, "_ack_in_order", lambda deliveries: None)
    crashing.start()
    publisher = Publisher(TEST_MQTT_URL)
    try:
        assert crashing.wait_connected(10)
        for i in range(50):
            publisher.publish(topic, reading_payload(clock.now() - timedelta(seconds=i), 3.0))
        wait_until(lambda: readings_for(sqlite_engine, device)[0] == 50, what="50 rows committed")
        unacked = crashing.metrics()["received"]
    finally:
        crashing.stop()
    assert isinstance(unacked, int) and unacked > 0

    recovered = Gateway(mosquitto_settings, sqlite_engine, clock)
    recovered.start()
    try:
        wait_until(
            lambda: recovered.metrics()["duplicates"] == unacked and recovered.metrics()["acked"] >= 50,
            what="redelivered messages processed as duplicates",
        )
        # A sentinel published now arrives after any redelivery; nothing more is pending.
        publisher.publish(topic, reading_payload(clock.now() + timedelta(seconds=1), 1.0))
        wait_until(lambda: readings_for(sqlite_engine, device)[0] == 51, what="sentinel stored")
        # The batch's figures are added just after its commit: wait for them, then pin them.
        wait_until(lambda: recovered.metrics()["stored"] >= 1, what="sentinel batch counted")
        metrics: dict[str, Any] = recovered.metrics()
        assert metrics["received"] == 51 and metrics["stored"] == 1
    finally:
        recovered.stop()
        publisher.close()
    assert readings_for(sqlite_engine, device) == (51, 51)


def test_shared_subscription_group_receives(
    mosquitto_settings: Settings, sqlite_engine: Engine, clock: ManualClock
) -> None:
    assert TEST_MQTT_URL
    settings = mosquitto_settings.model_copy(update={"mqtt_share_group": unique("grp")})
    gateway = Gateway(settings, sqlite_engine, clock)
    assert all(f.startswith(f"$share/{settings.mqtt_share_group}/") for f in gateway.topic_filters())
    gateway.start()
    publisher = Publisher(TEST_MQTT_URL)
    try:
        assert gateway.wait_connected(10)
        device = unique("shared")
        publisher.publish(
            f"{settings.mqtt_native_prefix}/{device}/reading", reading_payload(clock.now(), 2.0)
        )
        wait_until(
            lambda: readings_for(sqlite_engine, device)[0] == 1, what="message via the shared subscription"
        )
    finally:
        publisher.close()
        gateway.stop()
