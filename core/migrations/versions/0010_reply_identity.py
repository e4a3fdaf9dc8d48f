"""reply identity: ack_code (the code a family reply must carry) and callattempt.caller_verstat

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ack_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("wrong_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["alert_case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "contact_id", name="uq_ack_code_case_contact"),
    )
    with op.batch_alter_table("ack_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ack_code_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ack_code_contact_id"), ["contact_id"], unique=False)
    with op.batch_alter_table("callattempt", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("caller_verstat", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("callattempt", schema=None) as batch_op:
        batch_op.drop_column("caller_verstat")
    with op.batch_alter_table("ack_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ack_code_contact_id"))
        batch_op.drop_index(batch_op.f("ix_ack_code_case_id"))
    op.drop_table("ack_code")
