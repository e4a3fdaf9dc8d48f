"""Retention and erasure marks: alert_case.transcripts_removed_at, household/resident.erased_at

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.types import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_case") as batch_op:
        batch_op.add_column(sa.Column("transcripts_removed_at", UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("household") as batch_op:
        batch_op.add_column(sa.Column("erased_at", UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("resident") as batch_op:
        batch_op.add_column(sa.Column("erased_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resident") as batch_op:
        batch_op.drop_column("erased_at")
    with op.batch_alter_table("household") as batch_op:
        batch_op.drop_column("erased_at")
    with op.batch_alter_table("alert_case") as batch_op:
        batch_op.drop_column("transcripts_removed_at")
