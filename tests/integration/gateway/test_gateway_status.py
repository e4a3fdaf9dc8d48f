"""A running gateway (real Mosquitto) writes its gateway_status row; `anbu stats` reads it back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from anbu.stats import collect
from core.clock import ManualClock
from core.models import GatewayStatus
from core.settings import Settings
from gateway.service import Gateway
from gateway.status import STALE_AFTER_INTERVALS, STATUS_INTERVAL_S
from tests.conftest import TEST_MQTT_URL, needs_mqtt
from tests.integration.gateway.mqtt_helpers import (
    Publisher,
    isolated_gateway_settings,
    reading_payload,
    unique,
    wait_until,
)

pytestmark = needs_mqtt


@pytest.fixture
def gateway_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    with isolated_gateway_settings(monkeypatch, "st", mqtt_session_expiry_s=60) as settings:
        yield settings


def _row(engine: Engine, client_id: str) -> GatewayStatus | None:
    with Session(engine) as s:
        return s.get(GatewayStatus, client_id)


def test_running_gateway_writes_its_row_and_stats_shows_it_then_stale(
    gateway_settings: Settings, engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert TEST_MQTT_URL
    monkeypatch.setattr(Gateway, "status_interval_s", 0.2)  # the test should not wait 5 s per row
    client_id = gateway_settings.mqtt_client_id
    gateway = Gateway(gateway_settings, engine, clock)
    gateway.start()
    try:
        assert gateway.wait_connected(10)
        publisher = Publisher(TEST_MQTT_URL)
        device = unique("plug")
        for i in range(5):
            publisher.publish(
                f"{gateway_settings.mqtt_native_prefix}/{device}/reading",
                reading_payload(clock.now() - timedelta(seconds=i), 3.0),
            )
        publisher.publish(f"{gateway_settings.mqtt_native_prefix}/{device}/reading", b"{not json")
        publisher.close()

        def row_caught_up() -> bool:
            row = _row(engine, client_id)
            return row is not None and row.connected and row.stored == 5 and row.rejected == 1

        wait_until(row_caught_up, what="gateway_status row with the batch's totals")
    finally:
        gateway.stop()

    row = _row(engine, client_id)
    assert row is not None
    assert row.updated_at.tzinfo is not None and row.updated_at == clock.now()  # core's clock
    assert row.generation >= 1 and row.received >= 6 and row.batches >= 1

    mine = [g for g in collect(engine, clock)["gateways"] if g["client_id"] == client_id]
    assert len(mine) == 1
    assert mine[0]["stale"] is False and mine[0]["connected"] is True
    assert (mine[0]["stored"], mine[0]["rejected"]) == (5, 1)

    clock.advance(timedelta(seconds=STALE_AFTER_INTERVALS * STATUS_INTERVAL_S + 1))
    mine = [g for g in collect(engine, clock)["gateways"] if g["client_id"] == client_id]
    assert mine[0]["stale"] is True
