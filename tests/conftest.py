"""Shared fixtures: a fresh migrated database per test, a manual clock, and service URLs."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine

from core.clock import ManualClock
from core.db import make_engine
from core.migrate import upgrade
from tests.pg_schemas import SchemaPool

TEST_MQTT_URL = os.environ.get("ANBU_TEST_MQTT_URL")
TEST_DATABASE_URL = os.environ.get("ANBU_TEST_DATABASE_URL")

needs_mqtt = pytest.mark.skipif(
    not TEST_MQTT_URL, reason="ANBU_TEST_MQTT_URL is not set (no real MQTT broker configured)"
)
needs_postgres = pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="ANBU_TEST_DATABASE_URL is not set (no PostgreSQL configured)"
)

# Mutation testing (tools/mutation.py): the same examples for every mutant, none remembered from
# an earlier mutant's failure, so a verdict does not depend on the order mutants ran in.
hypothesis_settings.register_profile("mutation", database=None, derandomize=True)


@pytest.fixture(autouse=True)
def _fresh_memoised_answers() -> None:
    """Each test starts with the gateway's memos empty (topic routes, Tasmota layouts, ESPHome units).

    They only ever hold what the code computed, so production keeps them for the process; a test
    that found an answer already memoised by an earlier test would never run the code behind it,
    and mutation testing would credit that code to no test at all.
    """
    from gateway import adapters
    from gateway.adapters import esphome, tasmota

    adapters._routers.clear()
    tasmota._layouts.cache_clear()
    esphome.parse_units.cache_clear()


@pytest.fixture
def process_in_los_angeles() -> Iterator[str]:
    """Run the test in a process whose local zone is neither UTC nor a household's (Asia/Seoul).

    Code that should use the household's zone but falls back on the process's (a naive
    ``datetime``, ``fromtimestamp`` without a zone) passes unnoticed on a UTC machine; here it
    gets an answer several hours off. The zone is restored afterwards.
    """
    zone = "America/Los_Angeles"
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield zone
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 0, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head per test process; each test gets a copy (~1 s saved a test)."""
    path = tmp_path_factory.mktemp("template") / "anbu.db"
    upgrade(f"sqlite:///{path}")
    return path


def _fresh_sqlite(template: Path, tmp_path: Path) -> Engine:
    path = tmp_path / "anbu.db"
    # The backup API copies a consistent database (whatever the WAL holds), not the raw file.
    source, target = sqlite3.connect(template), sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return make_engine(f"sqlite:///{path}")


@pytest.fixture
def sqlite_engine(_migrated_sqlite: Path, tmp_path: Path) -> Iterator[Engine]:
    engine = _fresh_sqlite(_migrated_sqlite, tmp_path)
    yield engine
    engine.dispose()


_SCHEMAS = SchemaPool(TEST_DATABASE_URL) if TEST_DATABASE_URL else None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SCHEMAS is not None:
        _SCHEMAS.close()


@contextmanager
def private_pg_schema(revision: str | None = "head") -> Iterator[tuple[str, Engine]]:
    """A private schema on the test PostgreSQL, migrated to *revision* (None: empty), gone
    afterwards: its URL and an engine on it. At head it comes from this process's pool
    (tests/pg_schemas.py: emptied and reused, as fresh as a new one, instead of migrated anew)."""
    if _SCHEMAS is None:
        pytest.skip("ANBU_TEST_DATABASE_URL is not set (no PostgreSQL configured)")
    if revision == "head":
        schema, baseline = _SCHEMAS.take()
    else:
        schema, baseline = _SCHEMAS.create(revision), None
    url = _SCHEMAS.url(schema)
    engine = make_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()
        if baseline is None:
            _SCHEMAS.drop(schema)
        else:
            _SCHEMAS.give_back(schema, baseline)


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A private schema on the test PostgreSQL, migrated, dropped afterwards."""
    with private_pg_schema() as (_url, engine):
        yield engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, _migrated_sqlite: Path, tmp_path: Path) -> Iterator[Engine]:
    """Both dialects: SQLite always, PostgreSQL when ANBU_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        eng = _fresh_sqlite(_migrated_sqlite, tmp_path)
        yield eng
        eng.dispose()
    else:
        yield request.getfixturevalue("postgres_engine")
