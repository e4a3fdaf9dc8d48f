"""routine_refit: the last refit of each household's routine and a worker's claim on the next (issue 15.2)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routine_refit",
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("as_of", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.PrimaryKeyConstraint("household_id"),
    )


def downgrade() -> None:
    op.drop_table("routine_refit")
