"""install secrets, and login failures per (name, client address) instead of per account

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gamehub.models.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "install_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("created_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_install_secrets")),
    )
    op.create_table(
        "login_failures",
        sa.Column("name", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.Column("locked_until", gamehub.models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", "address", name=op.f("pk_login_failures")),
    )
    # The account-wide counter and lock gave way to login_failures; a lock in force at
    # the upgrade lapses, as it would have within lockout_seconds anyway.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_login_attempts")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_login_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("locked_until", gamehub.models.base.UTCDateTime(), nullable=True)
        )
    # The default only filled existing rows; 0004's schema has none.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "failed_login_attempts",
            existing_type=sa.Integer(),
            existing_nullable=False,
            server_default=None,
        )
    op.drop_table("login_failures")
    op.drop_table("install_secrets")
