"""The gateway's queue is bounded by backpressure (ANBU_GATEWAY_QUEUE_MAX), against a real Mosquitto.

A store made deliberately slow and a burst far larger than the bound: the queue never holds more
than the bound (the network thread waited instead, reading nothing from the broker meanwhile), and
every message is still stored exactly once and acknowledged once stored. Before the bound, the
queue took the whole burst (MQTT 5's receive maximum, 2,000 here, was its only limit).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from core.clock import ManualClock
from core.settings import Settings
from gateway.batches import Interrupted
from gateway.service import Gateway
from tests.conftest import TEST_MQTT_URL, needs_mqtt
from tests.integration.gateway.mqtt_helpers import (
    Publisher,
    broker_settings,
    forget_session,
    reading_payload,
    readings_for,
    unique,
    wait_until,
)

pytestmark = needs_mqtt

URL = TEST_MQTT_URL or ""

BOUND = 100
BURST = 3000


class DepthWatchingQueue(queue.SimpleQueue):  # type: ignore[type-arg]
    """The gateway's queue, remembering the most it ever held."""

    peak = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        depth = self.qsize()
        if depth > self.peak:
            self.peak = depth


def _settings(name: str) -> Settings:
    # One device's burst is the load here, not a flood to cut.
    return broker_settings(unique(name), gateway_queue_max=BOUND, device_rate_burst=1_000_000)


def _burst(publisher: Publisher, settings: Settings, device: str, start: datetime, count: int) -> None:
    """*count* readings one second apart, published at once, each acknowledged by the broker."""
    infos = [
        publisher.client.publish(
            f"{settings.mqtt_native_prefix}/{device}/reading",
            reading_payload(start + timedelta(seconds=i), float(i % 7) * 100),
            qos=1,
        )
        for i in range(count)
    ]
    for info in infos:
        info.wait_for_publish(30)


def test_a_slow_store_holds_the_broker_back_and_loses_nothing(sqlite_engine: Engine) -> None:
    settings = _settings("bp")
    clock = ManualClock(datetime.now(UTC))
    gateway = Gateway(settings, sqlite_engine, clock)
    watched = DepthWatchingQueue()
    gateway._queue = watched
    process = gateway._processor.process

    def slow_store(batch: Sequence[Any], ack: Any) -> Any:
        time.sleep(0.05)  # a store that falls behind a burst: 20 commits a second at most
        return process(batch, ack)

    gateway._processor.process = slow_store  # type: ignore[method-assign,assignment]
    publisher = Publisher(URL)
    device = unique("burst")
    start = clock.now() - timedelta(hours=1)
    try:
        gateway.start()
        assert gateway.wait_connected(10)
        _burst(publisher, settings, device, start, BURST)
        wait_until(
            lambda: readings_for(sqlite_engine, device)[0] >= BURST, timeout=120, what="the burst stored"
        )
        wait_until(lambda: gateway.metrics()["acked"] >= BURST, what="every message acknowledged")
        figures = gateway.metrics()
        assert watched.peak <= BOUND, f"the queue held {watched.peak} messages, over its bound of {BOUND}"
        assert readings_for(sqlite_engine, device) == (BURST, BURST)  # each once, none lost
        assert figures["received"] == figures["acked"] == BURST
        assert figures["backpressure_waits"] > 0 and figures["queue_limit"] == BOUND
    finally:
        gateway.stop()
        publisher.close()
        forget_session(URL, settings.mqtt_client_id)


@pytest.mark.slow
def test_stopping_while_the_network_thread_waits_for_room_acks_nothing_unstored(
    sqlite_engine: Engine,
) -> None:
    """A store that never answers (the database is down) fills the queue; the network thread waits.
    Stopping must not hang on it (paho's loop_stop joins that thread), must ack nothing, and the
    broker must redeliver every message to the next gateway, which stores each once."""
    settings = _settings("bp-stop")
    clock = ManualClock(datetime.now(UTC))
    stuck = Gateway(settings, sqlite_engine, clock)

    def database_down(batch: Sequence[Any], ack: Any) -> Any:
        while not stuck._interrupt.is_set():
            time.sleep(0.02)
        raise Interrupted("the database never came back")

    stuck._processor.process = database_down  # type: ignore[method-assign,assignment]
    publisher = Publisher(URL)
    device, total = unique("held"), 600
    start = clock.now() - timedelta(hours=1)
    again: Gateway | None = None
    try:
        stuck.start()
        assert stuck.wait_connected(10)
        _burst(publisher, settings, device, start, total)
        wait_until(
            lambda: stuck.metrics()["backpressure_waits"] > 0, what="the network thread to wait for room"
        )
        stopping = time.monotonic()
        stuck.stop(timeout=1)
        assert time.monotonic() - stopping < 10, "stopping hung on the waiting network thread"
        assert stuck.metrics()["acked"] == 0 and readings_for(sqlite_engine, device) == (0, 0)

        again = Gateway(settings, sqlite_engine, clock)
        again.start()
        wait_until(lambda: readings_for(sqlite_engine, device)[0] >= total, timeout=60, what="the redelivery")
        assert readings_for(sqlite_engine, device) == (total, total)
    finally:
        if again is not None:
            again.stop()
        publisher.close()
        forget_session(URL, settings.mqtt_client_id)
