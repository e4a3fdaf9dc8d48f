"""alert_case.explanation_texts: a case's explanation in every language (issue 17.9)

The dashboard in English showed Korean explanations: they were stored as Korean text only. New
cases keep the same explanation in every language beside it; older rows keep NULL here and are
shown in the language they were written in.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_case") as batch_op:
        batch_op.add_column(sa.Column("explanation_texts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_case") as batch_op:
        batch_op.drop_column("explanation_texts")
