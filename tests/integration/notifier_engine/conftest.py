"""Fixtures for the escalation engine and outbox tests."""

from __future__ import annotations

import pytest

from core.settings import Settings
from notifier.pacing import CallPacer
from tests.integration.notifier_engine.support import FROM_NUMBER, PUBLIC_BASE, RecordingTransport


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, public_base_url=PUBLIC_BASE, twilio_from_number=FROM_NUMBER)


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def no_pacing() -> CallPacer:
    return CallPacer(0)
