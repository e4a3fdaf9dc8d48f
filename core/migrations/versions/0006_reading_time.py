"""reading time: device clock offsets and receipts of messages without a device time

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing devices start with no learned clock (NULL): the first time each is heard decides.
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clock_offset_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('clock_device_ts', core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('clock_lag_s', sa.Float(), nullable=True))
    op.create_table('message_receipt',
    sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('packet_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.BigInteger(), nullable=False),
    sa.Column('received_at', core.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'packet_id')
    )


def downgrade() -> None:
    op.drop_table('message_receipt')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_column('clock_lag_s')
        batch_op.drop_column('clock_device_ts')
        batch_op.drop_column('clock_offset_s')
