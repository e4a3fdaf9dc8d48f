"""gateway link health and floods: gateway_status figures, system_incident

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = "status IN ('open', 'acknowledged')"
# Existing rows get the model's defaults (server_default only for the ALTER; the models keep none).
_FLAGS = ('deaf', 'delivery_verified', 'flapping')
_COUNTS = (
    'sessions_lost',
    'session_takeovers',
    'disconnects',
    'probe_failures',
    'rate_limited',
    'pending_refused',
    'read_pauses',
    'queue_bytes',
)
_TIMES = ('last_heard_at', 'session_lost_at', 'stopped_at')


def upgrade() -> None:
    with op.batch_alter_table('gateway_status', schema=None) as batch_op:
        for name in _TIMES:
            batch_op.add_column(sa.Column(name, core.types.UTCDateTime(timezone=True), nullable=True))
        for name in _FLAGS:
            batch_op.add_column(sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('deaf_limit_s', sa.Float(), nullable=True))
        for name in _COUNTS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default='0'))
    with op.batch_alter_table('gateway_status', schema=None) as batch_op:
        for name in (*_FLAGS, *_COUNTS):
            batch_op.alter_column(name, server_default=None)

    op.create_table('system_incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('gateway_deaf', 'gateway_flapping', 'gateway_session_lost', 'gateway_down', name='systemincidentkind', native_enum=False, length=40), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sa.Enum('open', 'acknowledged', 'cleared', name='incidentstatus', native_enum=False, length=40), nullable=False),
    sa.Column('opened_at', core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('detections', sa.Integer(), nullable=False),
    sa.Column('acknowledged_at', core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('cleared_at', core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('system_incident', schema=None) as batch_op:
        batch_op.create_index('uq_system_incident_active', ['kind', 'source'], unique=True, sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE))


def downgrade() -> None:
    with op.batch_alter_table('system_incident', schema=None) as batch_op:
        batch_op.drop_index('uq_system_incident_active', sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE))
    op.drop_table('system_incident')
    with op.batch_alter_table('gateway_status', schema=None) as batch_op:
        for name in (*_TIMES, *_FLAGS, 'deaf_limit_s', *_COUNTS):
            batch_op.drop_column(name)
