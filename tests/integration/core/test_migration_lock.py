"""Several roles starting at once on a fresh database: migrations run behind a database lock.

Each migrator is its own process (as `anbu gateway`, `anbu worker` and `anbu api` started together
by systemd or compose); they import everything first and then start upgrading at the same instant.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import make_engine
from core.migrate import current_head
from tests.conftest import private_pg_schema

pytestmark = pytest.mark.slow

MIGRATORS = 4
MIGRATOR = """
import sys, time
from pathlib import Path
from core.migrate import upgrade
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
upgrade(sys.argv[1])
"""


def _migrate_at_once(url: str, tmp_path: Path) -> list[subprocess.CompletedProcess[str]]:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATOR, url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(MIGRATORS)
    ]
    time.sleep(3)  # let every process finish importing; they then race on the go file
    go.touch()
    results: list[subprocess.CompletedProcess[str]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _assert_all_migrated(results: list[subprocess.CompletedProcess[str]], url: str) -> None:
    failures = [r.stderr[-2000:] for r in results if r.returncode != 0]
    assert not failures, failures
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
                current_head()
            ]
    finally:
        engine.dispose()


def test_several_migrators_at_once_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    _assert_all_migrated(_migrate_at_once(url, tmp_path), url)


@pytest.fixture
def fresh_postgres_schema() -> Iterator[str]:
    with private_pg_schema(revision=None) as (url, _engine):
        yield url


def test_several_migrators_at_once_on_a_fresh_postgresql_schema(
    fresh_postgres_schema: str, tmp_path: Path
) -> None:
    url = fresh_postgres_schema
    _assert_all_migrated(_migrate_at_once(url, tmp_path), url)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_an_upgrade_waits_while_another_migrator_holds_the_lock(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import threading

    from core.migrate import migration_lock, upgrade

    url = (
        f"sqlite:///{tmp_path / 'held.db'}"
        if dialect == "sqlite"
        else request.getfixturevalue("fresh_postgres_schema")
    )
    done = threading.Event()
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(url)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    with migration_lock(url):
        worker = threading.Thread(target=migrate)
        worker.start()
        assert not done.wait(1.0), errors  # held elsewhere: it waits (a negative check needs a wait)
    assert done.wait(120) and not errors, errors
    worker.join()
    _assert_all_migrated([], url)
