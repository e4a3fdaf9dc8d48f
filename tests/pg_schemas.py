"""Migrated PostgreSQL test schemas, reused instead of migrated afresh for every test.

Migrating a private schema to head takes ~1.2–1.9 s (22 Alembic revisions) and dropping it
another ~0.3 s; ~700 PostgreSQL tests paid that each. A schema a test is done with is emptied
instead (TRUNCATE of the tables that hold rows, the migrations' own rows put back, every
sequence set back to where the migrations left it) and handed to the next test in the same
process: ~0.1–0.4 s.

A schema is reused only if it is indistinguishable from a fresh one: the same relations,
columns and functions as when it was migrated (a test that ran DDL, e.g. made reading
partitions for its own clock, leaves a schema that is dropped, not reused), the same Alembic
revision, migrated on the same UTC day (the migrations make today's reading partitions), and
emptied without waiting on a lock a test's leftover connection holds. Anything else drops it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, text

from core.db import make_engine
from core.migrate import upgrade

# Tables the emptying leaves alone: Alembic's own bookkeeping.
_KEEP = frozenset({"alembic_version"})

_FINGERPRINT = text(
    """
    SELECT
      (SELECT string_agg(c.relname || ':' || CAST(c.relkind AS text), ',' ORDER BY c.relname)
         FROM pg_class c WHERE c.relnamespace = CAST(:schema AS regnamespace)),
      (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace = CAST(:schema AS regnamespace) AND a.attnum > 0
           AND NOT a.attisdropped),
      (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = CAST(:schema AS regnamespace)),
      (SELECT string_agg(version_num, ',') FROM alembic_version)
    """
)


@dataclass
class _Baseline:
    """What a freshly migrated schema looks like: what emptying puts back and checks against."""

    day: date
    fingerprint: tuple[Any, ...]
    tables: list[str]  # plain and partitioned parents, not partitions, without _KEEP
    seeds: dict[str, list[str]]  # rows the migrations wrote, per table, as JSON
    sequences: dict[str, tuple[int, bool]]  # last_value, is_called


@dataclass
class SchemaPool:
    """This test process's migrated schemas on the test database (``base_url``)."""

    base_url: str
    _free: list[tuple[str, _Baseline]] = field(default_factory=list)
    _admin: Engine | None = None

    def admin(self) -> Engine:
        if self._admin is None:
            self._admin = make_engine(self.base_url)
        return self._admin

    def url(self, schema: str) -> str:
        return with_search_path(self.base_url, schema)

    def create(self, revision: str | None) -> str:
        """A new private schema migrated to *revision* (None: empty)."""
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin().begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        if revision is not None:
            upgrade(self.url(schema), revision)
        return schema

    def drop(self, schema: str) -> None:
        with self.admin().begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))

    def take(self) -> tuple[str, _Baseline]:
        """A schema at head with no test's rows: a reused one if this process has one from today."""
        today = datetime.now(UTC).date()
        while self._free:
            schema, baseline = self._free.pop()
            if baseline.day == today:
                return schema, baseline
            self.drop(schema)
        schema = self.create("head")
        return schema, self._baseline(schema, today)

    def give_back(self, schema: str, baseline: _Baseline) -> None:
        """Empty *schema* for the next test, or drop it if it cannot be made as fresh."""
        try:
            fresh = self._empty(schema, baseline)
        except Exception:  # a lock a leftover connection holds, a table a test dropped, ...
            fresh = False
        if fresh:
            self._free.append((schema, baseline))
        else:
            self.drop(schema)

    def close(self) -> None:
        while self._free:
            self.drop(self._free.pop()[0])
        if self._admin is not None:
            self._admin.dispose()
            self._admin = None

    def _baseline(self, schema: str, day: date) -> _Baseline:
        with self.admin().begin() as conn:
            conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            tables = list(
                conn.execute(
                    text(
                        "SELECT c.relname FROM pg_class c"
                        " WHERE c.relnamespace = CAST(:schema AS regnamespace)"
                        " AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname"
                    ),
                    {"schema": schema},
                ).scalars()
            )
            tables = [t for t in tables if t not in _KEEP]
            seeds = {
                t: list(conn.execute(text(f'SELECT CAST(row_to_json(r) AS text) FROM "{t}" r')).scalars())
                for t in _holding_rows(conn, tables)
            }
            sequences = {
                name: (int(last), bool(called))
                for name, last, called in conn.execute(
                    text(
                        "SELECT c.relname, s.last_value, s.is_called FROM pg_class c,"
                        " LATERAL pg_sequence_last_value(c.oid) AS lv(v),"
                        " LATERAL (SELECT coalesce(lv.v, q.seqstart) AS last_value,"
                        "          lv.v IS NOT NULL AS is_called"
                        "          FROM pg_sequence q WHERE q.seqrelid = c.oid) s"
                        " WHERE c.relnamespace = CAST(:schema AS regnamespace) AND c.relkind = 'S'"
                    ),
                    {"schema": schema},
                ).all()
            }
            fingerprint = tuple(conn.execute(_FINGERPRINT, {"schema": schema}).one())
        return _Baseline(day, fingerprint, tables, seeds, sequences)

    def _empty(self, schema: str, baseline: _Baseline) -> bool:
        with self.admin().begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            if tuple(conn.execute(_FINGERPRINT, {"schema": schema}).one()) != baseline.fingerprint:
                return False
            # A table the migrations wrote rows to holds rows (so is emptied here) or was emptied
            # by the test; either way its rows are written back as the migrations left them.
            dirty = _holding_rows(conn, baseline.tables)
            if dirty:
                names = ", ".join(f'"{t}"' for t in dirty)
                conn.execute(text(f"TRUNCATE {names} CASCADE"))
            for table, rows in baseline.seeds.items():
                for row in rows:
                    conn.execute(
                        text(
                            f'INSERT INTO "{table}" SELECT * FROM json_populate_record(NULL::"{table}", :row)'
                        ),
                        {"row": row},
                    )
            if baseline.sequences:
                conn.execute(
                    text(
                        "SELECT "
                        + ", ".join(
                            f"setval('\"{name}\"', {last}, {'true' if called else 'false'})"
                            for name, (last, called) in baseline.sequences.items()
                        )
                    )
                )
        return True


def with_search_path(url: str, schema: str) -> str:
    """*url* with *schema* as every connection's search path."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def _holding_rows(conn: Any, tables: list[str]) -> list[str]:
    """Which of *tables* hold any row: one round trip."""
    if not tables:
        return []
    probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables)
    return list(conn.execute(text(probe)).scalars())
