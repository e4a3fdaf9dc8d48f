"""callattempt.to_number -> to_address: the two outbox tables name the address alike

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callattempt") as batch_op:
        batch_op.alter_column("to_number", new_column_name="to_address", existing_type=sa.String(length=32), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("callattempt") as batch_op:
        batch_op.alter_column("to_address", new_column_name="to_number", existing_type=sa.String(length=32), existing_nullable=False)
