"""household.dong: the neighbourhood named in the address, for the district overview (issue 17)

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.neighbourhood import neighbourhood

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dong", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False, server_default="")
        )
        batch_op.create_index("ix_household_team_dong", ["team_id", "dong"], unique=False)
    # Existing addresses get their neighbourhood once; afterwards the model derives it on write.
    household = sa.table("household", sa.column("id", sa.Integer), sa.column("address"), sa.column("dong"))
    bind = op.get_bind()
    rows = bind.execute(sa.select(household.c.id, household.c.address).where(household.c.address != "")).all()
    for household_id, address in rows:
        dong = neighbourhood(address or "")
        if dong:
            bind.execute(sa.update(household).where(household.c.id == household_id).values(dong=dong))


def downgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_index("ix_household_team_dong")
        batch_op.drop_column("dong")
