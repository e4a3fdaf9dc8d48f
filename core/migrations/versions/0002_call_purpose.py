"""call_attempt.purpose: why a call exists, instead of idempotency-key prefixes

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Existing rows told their purpose apart by key prefix and recipient kind; keep that meaning.
_BACKFILL = """
UPDATE callattempt SET purpose = CASE
    WHEN idempotency_key LIKE 'inbound:%' THEN 'inbound'
    WHEN idempotency_key LIKE 'checkin:%' THEN 'checkin'
    WHEN recipient_kind = 'contact' THEN 'contact_alert'
    ELSE 'wellness'
END
"""


def upgrade() -> None:
    with op.batch_alter_table("callattempt") as batch_op:
        batch_op.add_column(
            sa.Column(
                "purpose",
                sa.Enum("wellness", "checkin", "contact_alert", "inbound", name="callpurpose", native_enum=False, length=40),
                nullable=True,
            )
        )
    op.execute(_BACKFILL)
    with op.batch_alter_table("callattempt") as batch_op:
        batch_op.alter_column("purpose", existing_type=sa.String(length=40), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("callattempt") as batch_op:
        batch_op.drop_column("purpose")
