"""reading_hour, reading_rollup, reading_rollup_cursor: readings summarised per household and hour (issue 15.3)

The cursor starts at the newest reading: rows already stored are summarised by the worker's
roll-up from each household's first reading, not checked one by one for late arrival.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.types

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reading_hour",
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("hour", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("covered_s", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("household_id", "hour"),
    )
    op.create_table(
        "reading_rollup",
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("rolled_until", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_reading_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("household_id"),
    )
    op.create_table(
        "reading_rollup_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_reading_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        "INSERT INTO reading_rollup_cursor (id, last_reading_id) SELECT 1, COALESCE(MAX(id), 0) FROM reading"
    )


def downgrade() -> None:
    op.drop_table("reading_rollup_cursor")
    op.drop_table("reading_rollup")
    op.drop_table("reading_hour")
