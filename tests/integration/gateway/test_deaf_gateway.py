"""Issue 12: a gateway that hears nothing for longer than its plugs' reporting allows is an incident.

A real gateway on the embedded broker, one assigned plug that reports every second: when it stops,
the gateway says it is deaf (metrics, status row), the incidents tick opens a staff-only incident,
and both clear when the plug is heard again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import SYSTEM_CLOCK
from core.db import session_scope
from core.enums import IncidentStatus, SystemIncidentKind
from core.models import GatewayStatus
from core.settings import Settings
from gateway import incidents
from gateway.broker import EmbeddedBroker
from gateway.incidents import active_incidents
from gateway.service import Gateway
from tests.factories import make_device, make_household
from tests.integration.gateway.mqtt_helpers import Publisher, reading_payload, unique, wait_until


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(0) as b:
        yield b


def _status_deaf(engine: Engine, client_id: str) -> bool | None:
    with Session(engine) as s:
        row = s.get(GatewayStatus, client_id)
        return None if row is None else row.deaf


def test_a_gateway_that_hears_no_plug_opens_an_incident_and_clears_it(
    broker: EmbeddedBroker, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Gateway, "status_interval_s", 0.2)
    external_id = unique("kettle")
    with session_scope(sqlite_engine) as s:
        device = make_device(s, household=make_household(s), external_id=external_id)
        device.report_interval_s = 1.0  # learned: it reports every second
        device.last_seen_at = datetime.now(UTC)
    settings = Settings(
        _env_file=None,
        mqtt_url=None,
        mqtt_embedded_port=broker.port,
        mqtt_client_id=unique("anbu-test-gw"),
        gateway_deaf_min_s=1.0,
    )
    gateway = Gateway(settings, sqlite_engine, SYSTEM_CLOCK)
    gateway.start()
    publisher = Publisher(broker.url)
    client_id = settings.mqtt_client_id
    try:
        assert gateway.wait_connected(10)
        publisher.publish(f"anbu/{external_id}/reading", reading_payload(datetime.now(UTC), 3.0))
        wait_until(lambda: gateway.metrics()["stored"] == 1, what="the plug's reading stored")
        assert gateway.metrics()["deaf_limit_s"] == 3.0  # 3 x the plug's 1 s interval
        # The plug (the only one) falls silent: after 3 s the gateway counts as deaf.
        wait_until(lambda: gateway.metrics()["deaf"] is True, timeout=10, what="deaf")
        wait_until(lambda: _status_deaf(sqlite_engine, client_id) is True, what="deaf in the status row")
        incidents.tick(sqlite_engine, SYSTEM_CLOCK, settings)
        with Session(sqlite_engine) as s:
            (incident,) = active_incidents(s)
        assert (incident.kind, incident.source) == (SystemIncidentKind.GATEWAY_DEAF, client_id)
        assert incident.detail["connected"] is True and incident.detail["limit_s"] == 3.0

        publisher.publish(f"anbu/{external_id}/reading", reading_payload(datetime.now(UTC), 4.0))
        wait_until(lambda: gateway.metrics()["deaf"] is False, what="hearing again")
        wait_until(lambda: _status_deaf(sqlite_engine, client_id) is False, what="status row not deaf")
        incidents.tick(sqlite_engine, SYSTEM_CLOCK, settings)
        with Session(sqlite_engine) as s:
            assert active_incidents(s) == []
            assert s.get(type(incident), incident.id).status == IncidentStatus.CLEARED  # type: ignore[union-attr]
    finally:
        publisher.close()
        gateway.stop()
    with Session(sqlite_engine) as s:
        row = s.get(GatewayStatus, client_id)
        assert row is not None and row.stopped_at is not None  # a clean stop is no incident
