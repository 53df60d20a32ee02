"""player protection: limits, time-outs, self-exclusion, reality checks, KYC status

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gamehub.models.base import UTCDateTime

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "player_protection",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("timeout_until", UTCDateTime(), nullable=True),
        sa.Column("excluded_until", UTCDateTime(), nullable=True),
        sa.Column("excluded_permanent", sa.Boolean(), nullable=False),
        sa.Column("reality_check_minutes", sa.Integer(), nullable=True),
        sa.Column("session_started_at", UTCDateTime(), nullable=True),
        sa.Column("last_bet_at", UTCDateTime(), nullable=True),
        sa.Column("reminded_at", UTCDateTime(), nullable=True),
        sa.Column("kyc_status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_player_protection_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_player_protection")),
    )
    op.create_table(
        "player_limits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("pending_amount", sa.BigInteger(), nullable=True),
        sa.Column("pending_from", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_player_limits_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_player_limits")),
        sa.UniqueConstraint(
            "user_id", "kind", "period", name=op.f("uq_player_limits_user_id_kind_period")
        ),
    )


def downgrade() -> None:
    op.drop_table("player_limits")
    op.drop_table("player_protection")
