"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.broker import EmbeddedBroker
from tests.e2e.harness import free_port


@pytest.fixture
def embedded_broker() -> Iterator[str]:
    """An in-process MQTT broker on a free port (no device authentication): its ``mqtt://`` URL."""
    broker = EmbeddedBroker(port=free_port())
    broker.start()
    try:
        yield broker.url
    finally:
        broker.stop()
