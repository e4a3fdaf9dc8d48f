"""status_link: family status links as hashed random tokens; audit entries without a user

Links made before this revision (signed ``s1.`` tokens) are not migrated: they stop working
and the page asks the family member for a new one (docs/security.md).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLE = sa.Enum(
    "admin", "caseworker", "control_room", "family", name="role", native_enum=False, length=40
)


def upgrade() -> None:
    op.create_table(
        "status_link",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("status_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_status_link_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_status_link_household_id"), ["household_id"], unique=False)
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("role", existing_type=_ROLE, nullable=True)
        batch_op.add_column(sa.Column("status_link_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Entries without a user (status-page views, failed logins) cannot survive the old schema.
    op.execute("DELETE FROM audit_entry WHERE user_id IS NULL OR role IS NULL")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_column("status_link_id")
        batch_op.alter_column("role", existing_type=_ROLE, nullable=False)
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("status_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_link_household_id"))
        batch_op.drop_index(batch_op.f("ix_status_link_contact_id"))
    op.drop_table("status_link")
