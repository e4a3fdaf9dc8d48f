"""watch.checked_inputs, watch.next_recheck_at: the sweeper re-checks an overdue household only
when what its deadline reads changed, or when the ladder's next stage comes (issue 15.2)

Both NULL on existing rows: every overdue household is re-checked on the first tick after the
upgrade, as before.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.types

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("watch") as batch_op:
        batch_op.add_column(sa.Column("checked_inputs", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("next_recheck_at", core.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("watch") as batch_op:
        batch_op.drop_column("next_recheck_at")
        batch_op.drop_column("checked_inputs")
