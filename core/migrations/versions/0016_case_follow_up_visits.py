"""alert_case.follow_up_visits: a case that calls for follow-up visits (a self-harm case)

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_case") as batch_op:
        batch_op.add_column(
            sa.Column("follow_up_visits", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Self-harm cases opened before the mark existed call for the same visits.
    op.execute("UPDATE alert_case SET follow_up_visits = true WHERE kind = 'self_harm_risk'")


def downgrade() -> None:
    with op.batch_alter_table("alert_case") as batch_op:
        batch_op.drop_column("follow_up_visits")
