"""Hostile input through the running gateway and a real broker (ANBU_TEST_MQTT_URL; skipped otherwise).

10,000 generated bad messages interleaved with 1,000 good readings: the gateway never crashes or
stalls, every good reading is stored, every bad message is in rejected_message with a reason, and the
rejections are counted against the device the topic names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from core.clock import ManualClock
from core.models import RejectedMessage
from core.settings import Settings
from gateway.service import Gateway
from tests.conftest import TEST_MQTT_URL, needs_mqtt
from tests.integration.gateway.hostile_messages import hostile_stream
from tests.integration.gateway.mqtt_helpers import (
    Publisher,
    isolated_gateway_settings,
    isolated_prefixes,
    reading_payload,
    readings_for,
    unique,
    wait_until,
)

pytestmark = [needs_mqtt, pytest.mark.slow]

BAD, GOOD, DEVICES = 10_000, 1_000, 10


@pytest.fixture
def hostile_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    # Each bad message must reach the parser and be kept with its reason: no device's rate
    # limit may stand in front (the rate limit has its own tests: test_flood_limits.py).
    with isolated_gateway_settings(monkeypatch, "hostile", device_rate_burst=1_000_000) as settings:
        yield settings


def _rejected(engine: Engine) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(RejectedMessage)).one()


def test_ten_thousand_bad_messages_never_stall_the_gateway(
    hostile_settings: Settings, sqlite_engine: Engine, clock: ManualClock
) -> None:
    assert TEST_MQTT_URL
    roots = isolated_prefixes(hostile_settings.mqtt_native_prefix.removeprefix("anbu-"))
    stream = hostile_stream(
        roots, bad=BAD, good=GOOD, devices=DEVICES, start=clock.now() - timedelta(hours=1)
    )
    gateway = Gateway(hostile_settings, sqlite_engine, clock)
    gateway.start()
    publisher = Publisher(TEST_MQTT_URL)
    try:
        assert gateway.wait_connected(10)
        infos = [publisher.client.publish(m.topic, m.payload, qos=1) for m in stream]
        for info in infos:
            info.wait_for_publish(timeout=60)
        wait_until(
            lambda: _rejected(sqlite_engine) >= BAD and gateway.metrics()["stored"] >= GOOD,
            timeout=120,
            what="every message processed",
        )
        # Not stalled: a reading sent after the storm is stored promptly.
        sentinel = unique("after")
        publisher.publish(
            f"{hostile_settings.mqtt_native_prefix}/{sentinel}/reading", reading_payload(clock.now(), 5.0)
        )
        wait_until(lambda: readings_for(sqlite_engine, sentinel)[0] == 1, what="reading after the storm")
        metrics = gateway.metrics()
        assert metrics["connected"] is True and metrics["poison_messages"] == 0
    finally:
        publisher.close()
        gateway.stop()

    assert readings_for(sqlite_engine, "good") == (GOOD, GOOD)
    with Session(sqlite_engine) as s:
        rows = s.exec(select(RejectedMessage.device_key, RejectedMessage.reason)).all()
    assert len(rows) == BAD
    assert all(reason for _key, reason in rows)
    expected = Counter(m.device_key for m in stream if not m.good)
    assert Counter(key for key, _reason in rows) == expected
    reasons = Counter(reason.split(" ")[0] for _key, reason in rows)
    assert reasons["payload"] > 0 and reasons["invalid"] > 0  # too large; invalid JSON / device id
