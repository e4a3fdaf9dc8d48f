"""app_user.urgent_notice, urgent_sound: each user's choice of the live notice of new 긴급 cases

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("urgent_notice", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("urgent_sound", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("urgent_sound")
        batch_op.drop_column("urgent_notice")
