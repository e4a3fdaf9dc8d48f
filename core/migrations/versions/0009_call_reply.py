"""call_reply: a resident's reply stored before it is acted on (issue 14.4)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_reply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("gather_no", sa.Integer(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("received_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("call_reply", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_reply_code"), ["code"], unique=False)
        batch_op.create_index("ix_call_reply_pending", ["done_at", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call_reply", schema=None) as batch_op:
        batch_op.drop_index("ix_call_reply_pending")
        batch_op.drop_index(batch_op.f("ix_call_reply_code"))
    op.drop_table("call_reply")
