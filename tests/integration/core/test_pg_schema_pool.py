"""The test suite's reused PostgreSQL schemas (tests/pg_schemas.py) are as fresh as new ones:
if emptying left a row, a changed migration row or an advanced sequence behind, every later
PostgreSQL test in the process would start from another test's data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlmodel import Session

from core.db import make_engine
from tests.conftest import TEST_DATABASE_URL, needs_postgres
from tests.factories import make_household
from tests.pg_schemas import SchemaPool

pytestmark = [needs_postgres, pytest.mark.postgres]

STATE = text(
    """
    SELECT
      (SELECT count(*) FROM household), (SELECT count(*) FROM team),
      (SELECT CAST(row_to_json(r) AS text) FROM mqtt_credential_revision r),
      (SELECT CAST(row_to_json(r) AS text) FROM reading_rollup_cursor r),
      (SELECT nextval('household_id_seq'))
    """
)


@pytest.fixture
def pool() -> Iterator[SchemaPool]:
    assert TEST_DATABASE_URL
    pool = SchemaPool(TEST_DATABASE_URL)
    yield pool
    pool.close()


def _state(pool: SchemaPool, schema: str) -> tuple[object, ...]:
    engine = make_engine(pool.url(schema))
    try:
        with engine.begin() as conn:
            return tuple(conn.execute(STATE).one())
    finally:
        engine.dispose()


def _dirty(pool: SchemaPool, schema: str, *ddl: str) -> None:
    engine = make_engine(pool.url(schema))
    try:
        with Session(engine) as session:
            for _ in range(3):
                make_household(session)
            session.commit()
        with engine.begin() as conn:
            conn.execute(text("UPDATE mqtt_credential_revision SET value = value + 7"))
            conn.execute(text("UPDATE reading_rollup_cursor SET last_reading_id = 99"))
            for statement in ddl:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def test_a_schema_given_back_is_reused_as_fresh_as_a_new_one(pool: SchemaPool) -> None:
    fresh_schema, _ = pool.take()
    fresh = _state(pool, fresh_schema)
    pool.drop(fresh_schema)

    schema, baseline = pool.take()
    _dirty(pool, schema)
    assert _state(pool, schema) != fresh
    pool.give_back(schema, baseline)

    again, _ = pool.take()
    assert again == schema  # reused, not migrated anew
    # no household, the migrations' rows as they wrote them, ids counting from the start again
    assert _state(pool, again) == fresh


def test_a_schema_a_test_changed_the_shape_of_is_dropped_not_reused(pool: SchemaPool) -> None:
    schema, baseline = pool.take()
    _dirty(pool, schema, "CREATE TABLE leftover (id integer)")
    pool.give_back(schema, baseline)

    again, _ = pool.take()
    assert again != schema
    with pool.admin().begin() as conn:
        gone = conn.execute(
            text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
        ).scalar_one()
    assert gone == 0
