"""Database factories, migrations and the aware-UTC column on both dialects."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.db import insert_or_find, make_engine, normalise_url, session_scope
from core.migrate import current_head, upgrade
from core.models import CallReply, Organisation, Team
from tests.factories import make_household


def test_sqlite_runs_in_wal_mode_with_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_plain_postgresql_url_uses_psycopg3() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_migrations_reach_head_and_are_idempotent(engine: Engine) -> None:
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == current_head()
    upgrade(engine.url.render_as_string(hide_password=False))  # a second run changes nothing


def test_timestamps_come_back_aware_utc(engine: Engine) -> None:
    seoul = timezone(timedelta(hours=9))
    with session_scope(engine) as s:
        h = make_household(s)
        h.paused_until = datetime(2026, 5, 1, 9, 0, tzinfo=seoul)
    with Session(engine) as s:
        stored = s.get_one(type(h), h.id)
        assert stored.paused_until == datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
        assert stored.paused_until is not None and stored.paused_until.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), session_scope(engine) as s:
        h = make_household(s)
        h.paused_until = datetime(2026, 5, 1, 9, 0)
        s.flush()


def test_session_scope_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        s.add(Organisation(name="ghost"))
        s.flush()
        raise RuntimeError("boom")
    with Session(engine) as s:
        assert s.exec(select(Organisation).where(Organisation.name == "ghost")).first() is None


def test_concurrent_sqlite_writers_wait_instead_of_failing(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as s:
        org = Organisation(name="o")
        s.add(org)
        s.flush()
        org_id = org.id
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                with session_scope(sqlite_engine) as s:
                    assert org_id is not None
                    s.add(Team(organisation_id=org_id, name=f"t{n}-{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with Session(sqlite_engine) as s:
        assert len(s.exec(select(Team)).all()) == 80


def test_migrations_create_exactly_the_tables_the_models_declare(engine: Engine) -> None:
    """Every schema change comes with its migration: upgrading to head leaves nothing for
    autogenerate to add, drop or alter (columns, types, nullability, indexes, constraints)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.models import metadata
    from core.reading_partitions import include_name

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
        assert compare_metadata(context, metadata) == []


def test_migrations_form_one_line() -> None:
    """Migrations are one chain (NNNN_name.py, each revising the one before): two sessions that
    both add a migration on the same head must renumber before landing, not leave two heads."""
    from alembic.script import ScriptDirectory

    from core.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(scripts.get_heads()) == 1
    for revision in scripts.walk_revisions():
        assert revision.path is not None
        assert Path(revision.path).name.startswith(f"{revision.revision}_")


def _reply(key: str, code: str) -> CallReply:
    return CallReply(key=key, code=code, params={}, received_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_insert_or_find_returns_the_row_that_went_in_or_the_winner(engine: Engine) -> None:
    with session_scope(engine) as s:
        row, inserted = insert_or_find(s, _reply("k1", "first"), lambda: None)
        assert inserted and row.id is not None

    def winner(session: Session) -> CallReply | None:
        return session.exec(select(CallReply).where(CallReply.key == "k1")).first()

    with session_scope(engine) as s:
        twin = _reply("k1", "second")
        found, inserted = insert_or_find(s, twin, lambda: winner(s))
        assert not inserted and found is not twin and found.code == "first"
        # Only the savepoint was rolled back: the transaction goes on.
        also, inserted = insert_or_find(s, _reply("k2", "other"), lambda: None)
        assert inserted and also.id is not None
    with session_scope(engine) as s:
        assert sorted(r.key for r in s.exec(select(CallReply)).all()) == ["k1", "k2"]


def test_insert_or_find_raises_again_when_no_winner_is_found(engine: Engine) -> None:
    with session_scope(engine) as s:
        insert_or_find(s, _reply("k1", "first"), lambda: None)
    with session_scope(engine) as s, pytest.raises(IntegrityError):
        insert_or_find(s, _reply("k1", "second"), lambda: None)  # not a lost race: the error stands


def test_a_statement_run_many_times_on_postgresql_is_planned_for_its_values_every_time(
    postgres_engine: Engine,
) -> None:
    """psycopg prepares a statement on its 5th run; PostgreSQL would then plan it once for any
    values after 5 more. Connectivity's "every plug offline" query went from ~50 ms to ~1 s a tick
    at 100k households on that generic plan (issue 15), so every run is planned for its values."""
    query = text("SELECT count(*) FROM household WHERE id = :id AND code <> :code")
    with postgres_engine.connect() as conn:
        for i in range(15):
            conn.execute(query, {"id": i, "code": "x"}).scalar_one()
        plans = conn.exec_driver_sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ("%FROM household WHERE id = $1%",),
        ).one()
    assert plans == (0, 10)  # prepared after its 5th run: each of the 10 since planned for its values
    with postgres_engine.connect() as conn:  # a connection from the pool keeps the setting
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "force_custom_plan"
