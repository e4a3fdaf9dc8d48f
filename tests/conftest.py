"""Shared fixtures: a fresh migrated database per test, a manual clock, and service URLs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core.clock import ManualClock
from core.db import make_engine
from core.migrate import upgrade

TEST_MQTT_URL = os.environ.get("ANBU_TEST_MQTT_URL")
TEST_DATABASE_URL = os.environ.get("ANBU_TEST_DATABASE_URL")

needs_mqtt = pytest.mark.skipif(
    not TEST_MQTT_URL, reason="ANBU_TEST_MQTT_URL is not set (no real MQTT broker configured)"
)
needs_postgres = pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="ANBU_TEST_DATABASE_URL is not set (no PostgreSQL configured)"
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 0, 0, tzinfo=UTC))


def _fresh_sqlite(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'anbu.db'}"
    upgrade(url)
    return make_engine(url)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = _fresh_sqlite(tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A private schema on the test PostgreSQL, migrated, dropped afterwards."""
    if not TEST_DATABASE_URL:
        pytest.skip("ANBU_TEST_DATABASE_URL is not set (no PostgreSQL configured)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _with_search_path(TEST_DATABASE_URL, schema)
    upgrade(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Both dialects: SQLite always, PostgreSQL when ANBU_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        eng = _fresh_sqlite(tmp_path)
        yield eng
        eng.dispose()
    else:
        yield request.getfixturevalue("postgres_engine")
