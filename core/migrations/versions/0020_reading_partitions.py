"""reading: partitioned by day of ts on PostgreSQL (core/reading_partitions.py); SQLite unchanged

The table is rebuilt: renamed, a partitioned ``reading`` made with daily partitions for every day
of data in the last ``_BACKFILL_DAYS`` and ``AHEAD_DAYS`` ahead (older rows go to the default
partition), the rows copied with their ids, the old table dropped. It takes as long as copying
the table; run it in a quiet hour on a large database (docs/operations.md).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from core.reading_partitions import AHEAD_DAYS, DEFAULT_PARTITION, partition_name

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL_DAYS = 400
_COLUMNS = "id, device_id, channel, ts, received_at, power_w, energy_wh, clock_suspect"


def _create_reading(partitioned: bool) -> None:
    op.execute(
        "CREATE TABLE reading ("
        " id BIGINT NOT NULL DEFAULT nextval('reading_id_seq'),"
        " device_id INTEGER NOT NULL REFERENCES device (id),"
        " channel VARCHAR(40) NOT NULL,"
        " ts TIMESTAMP WITH TIME ZONE NOT NULL,"
        " received_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " power_w DOUBLE PRECISION,"
        " energy_wh DOUBLE PRECISION,"
        " clock_suspect BOOLEAN NOT NULL,"
        f" CONSTRAINT reading_pkey PRIMARY KEY ({'id, ts' if partitioned else 'id'}),"
        " CONSTRAINT uq_reading_key UNIQUE (device_id, channel, ts)"
        ")" + (" PARTITION BY RANGE (ts)" if partitioned else "")
    )


def _set_aside_old() -> None:
    op.execute("ALTER TABLE reading RENAME TO reading_old")
    op.execute("ALTER TABLE reading_old RENAME CONSTRAINT reading_pkey TO reading_old_pkey")
    op.execute("ALTER TABLE reading_old RENAME CONSTRAINT uq_reading_key TO uq_reading_old_key")
    op.execute("ALTER SEQUENCE reading_id_seq OWNED BY NONE")  # dropping the old table keeps it


def _finish() -> None:
    op.execute(f"INSERT INTO reading ({_COLUMNS}) SELECT {_COLUMNS} FROM reading_old")
    op.execute("DROP TABLE reading_old")
    op.execute("ALTER SEQUENCE reading_id_seq OWNED BY reading.id")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    bind = op.get_bind()
    today = bind.execute(sa.text("SELECT (now() AT TIME ZONE 'UTC')::date")).scalar_one()
    first = bind.execute(
        sa.text("SELECT (min(ts) AT TIME ZONE 'UTC')::date FROM reading WHERE ts >= now() - make_interval(days => :d)"),
        {"d": _BACKFILL_DAYS},
    ).scalar()
    _set_aside_old()
    _create_reading(partitioned=True)
    op.execute(f'CREATE TABLE "{DEFAULT_PARTITION}" PARTITION OF reading DEFAULT')
    day = min(first or today, today - timedelta(days=1))
    while day <= today + timedelta(days=AHEAD_DAYS):
        start = f"{day.isoformat()} 00:00:00+00"
        end = f"{(day + timedelta(days=1)).isoformat()} 00:00:00+00"
        op.execute(
            f"CREATE TABLE \"{partition_name(day)}\" PARTITION OF reading FOR VALUES FROM ('{start}') TO ('{end}')"
        )
        day += timedelta(days=1)
    _finish()


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside_old()
    _create_reading(partitioned=False)
    _finish()
