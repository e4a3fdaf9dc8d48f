"""gateway_status: who drained and retired a dead group member's session, and when

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gateway_status", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rescued_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("rescued_at", core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rescue_finished_at", core.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gateway_status", schema=None) as batch_op:
        batch_op.drop_column("rescue_finished_at")
        batch_op.drop_column("rescued_at")
        batch_op.drop_column("rescued_by")
