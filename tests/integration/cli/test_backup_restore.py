"""`anbu backup` → `anbu restore` into a fresh database → `anbu stats` equal, on both dialects.

SQLite through the online backup API (taken while a writer keeps writing); PostgreSQL through
pg_dump/pg_restore into a second database on the same server.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col

from anbu.cli import main
from core.db import make_engine, session_scope
from core.migrate import upgrade
from core.models import Reading, RejectedMessage
from gateway.status import status_row, write_status
from tests.conftest import TEST_DATABASE_URL
from tests.factories import (
    make_call_attempt,
    make_device,
    make_household,
    make_notification,
    make_open_case,
    make_user,
    make_watch,
)

# Databases created and dropped per test, pg_dump/pg_restore subprocesses: seconds each.
pytestmark = pytest.mark.slow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("ANBU_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(source, fresh target) database URLs."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'restored' / 'anbu.db'}"
        return
    if not TEST_DATABASE_URL:
        pytest.skip("ANBU_TEST_DATABASE_URL is not set (no PostgreSQL configured)")
    server = make_url(TEST_DATABASE_URL)
    names = [f"anbu_bk_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        source, target = (server.set(database=n).render_as_string(hide_password=False) for n in names)
        yield source, target
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _seed(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as s:
        make_user(s, username="worker1")
        for n in range(3):
            household = make_household(s)
            plug = make_device(s, household=household, external_id=f"kettle-{n}-{uuid.uuid4().hex[:6]}")
            make_watch(s, household, last_activity_at=NOW - timedelta(hours=3))
            assert plug.id is not None
            s.add_all(
                Reading(device_id=plug.id, ts=NOW - timedelta(minutes=m), received_at=NOW, power_w=1.5 * m)
                for m in range(50)
            )
            case = make_open_case(s, household, now=NOW)
            make_call_attempt(s, household, now=NOW, case=case)
            make_notification(s, household, now=NOW, case=case)
        s.add(
            RejectedMessage(
                received_at=NOW,
                topic="anbu/x/reading",
                payload_excerpt="{",
                payload_size=1,
                reason="invalid JSON",
                device_key="native:x",
            )
        )
    write_status(engine, status_row("gw-1", None, _figures(), NOW))
    engine.dispose()


def _figures() -> dict[str, object]:
    keys = ("received", "stored", "duplicates", "rejected", "batches", "queue_depth", "generation")
    return dict.fromkeys(keys, 7) | {
        "connected": True,
        "messages_per_s": 1.0,
        "batch_ms_p50": 2.0,
        "batch_ms_p99": 3.0,
    }


Anbu = Callable[..., tuple[int, str, str]]


@pytest.fixture
def anbu(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Anbu:
    """``anbu(url, *argv)``: the ``anbu`` command on that database; its exit code, stdout, stderr."""

    def run(url: str, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv("ANBU_DATABASE_URL", url)
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _table_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
                for name in inspect(conn).get_table_names()
            }
    finally:
        engine.dispose()


def test_backup_then_restore_into_a_fresh_database_gives_equal_stats(
    urls: tuple[str, str], tmp_path: Path, anbu: Anbu
) -> None:
    source, target = urls
    _seed(source)
    code, out, _ = anbu(source, "stats", "--json")
    before = json.loads(out)
    assert before["households"] == 3 and before["readings"] == 150 and before["notifications"] == 3

    archive = tmp_path / "backups" / "anbu.backup"
    code, out, err = anbu(source, "backup", str(archive))
    assert code == 0, err
    assert archive.is_file() and f"{archive.stat().st_size:,} bytes" in out

    code, out, err = anbu(target, "restore", str(archive))
    assert code == 0, err
    code, out, _ = anbu(target, "stats", "--json")
    assert json.loads(out) == before
    assert _table_counts(target) == _table_counts(source)

    # The restored database takes new rows (ids and sequences carried over, nothing collides).
    engine = make_engine(target)
    with session_scope(engine) as s:
        new = make_household(s)
        assert new.id is not None and new.id > 3
    engine.dispose()


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(
    urls: tuple[str, str], tmp_path: Path, anbu: Anbu
) -> None:
    source, target = urls
    _seed(source)
    archive = tmp_path / "anbu.backup"
    assert anbu(source, "backup", str(archive))[0] == 0
    upgrade(target)
    engine = make_engine(target)
    with session_scope(engine) as s:
        make_household(s)
    engine.dispose()

    code, _, err = anbu(target, "restore", str(archive))
    assert code == 1 and "not empty" in err
    assert _table_counts(target)["household"] == 1  # untouched

    code, _, err = anbu(target, "restore", "--force", str(archive))
    assert code == 0, err
    assert _table_counts(target) == _table_counts(source)


def test_backup_never_overwrites_unless_forced_and_restore_checks_the_file(
    tmp_path: Path, anbu: Anbu
) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    _seed(source)
    archive = tmp_path / "anbu.backup"
    archive.write_text("an older backup")
    code, _, err = anbu(source, "backup", str(archive))
    assert code == 1 and "exists" in err and archive.read_text() == "an older backup"
    assert anbu(source, "backup", "--force", str(archive))[0] == 0

    target = f"sqlite:///{tmp_path / 'fresh.db'}"
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    code, _, err = anbu(target, "restore", str(not_a_backup))
    assert code == 1 and "not a SQLite backup" in err
    code, _, err = anbu(target, "restore", str(tmp_path / "missing"))
    assert code == 1 and "no such backup file" in err


def test_sqlite_backup_is_online_and_consistent_while_a_writer_keeps_writing(
    tmp_path: Path, anbu: Anbu
) -> None:
    source = f"sqlite:///{tmp_path / 'busy.db'}"
    _seed(source)
    engine = make_engine(source)
    with Session(engine) as s:
        device_id = s.execute(select(col(Reading.device_id)).limit(1)).scalar_one()
    stop, written = threading.Event(), [0]

    def writer() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            with session_scope(engine) as s:  # one reading per transaction, as fast as it goes
                s.add(
                    Reading(device_id=device_id, ts=NOW + timedelta(seconds=k), received_at=NOW, power_w=1.0)
                )
            written[0] = k

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 20:
            stop.wait(0.01)
        archive = tmp_path / "online.backup"
        code, _, err = anbu(source, "backup", str(archive))
        assert code == 0, err
        at_backup_end = written[0]
        while written[0] < at_backup_end + 20:  # the writer was never blocked for long
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join()
    copy = create_engine(f"sqlite:///{archive}")
    with copy.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "delete"  # one file
        stored = conn.execute(select(func.count()).select_from(Reading)).scalar_one()
    copy.dispose()
    engine.dispose()
    # A snapshot: the seed's 150 plus a prefix of the writer's rows, each whole.
    assert 150 + 20 <= stored <= 150 + at_backup_end + 1
