"""family words: contact.address_as (how the family member calls the resident) and team.phone
(the centre's number, when the caseworker has none on file)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("address_as", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False, server_default="")
        )
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_column("phone")
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("address_as")
