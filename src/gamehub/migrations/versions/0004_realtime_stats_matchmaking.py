"""player results, leaderboard snapshots, service credentials and external games

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:49:18.275712
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gamehub.models.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_games",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("game_id", sa.String(length=64), nullable=False),
        sa.Column("game", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("num_players", sa.Integer(), nullable=False),
        sa.Column("players", sa.Text(), nullable=False),
        sa.Column("created_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.Column("terminated_at", gamehub.models.base.UTCDateTime(), nullable=True),
        sa.Column("terminated_by", sa.String(length=64), nullable=True),
        sa.Column("results_digest", sa.String(length=64), nullable=True),
        sa.Column("wallets_settled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_games")),
        sa.UniqueConstraint("game_id", name=op.f("uq_external_games_game_id")),
    )
    with op.batch_alter_table("external_games", schema=None) as batch_op:
        batch_op.create_index(
            "ix_external_games_status_expires_at", ["status", "expires_at"], unique=False
        )

    op.create_table(
        "service_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_hint", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.String(length=255), nullable=False),
        sa.Column("created_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", gamehub.models.base.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", gamehub.models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_credentials")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_service_credentials_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_service_credentials_name")),
    )
    op.create_table(
        "leaderboard",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("game", sa.String(length=50), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("earnings", sa.BigInteger(), nullable=False),
        sa.Column("win_count", sa.Integer(), nullable=False),
        sa.Column("loss_count", sa.Integer(), nullable=False),
        sa.Column("taken_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_leaderboard_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboard")),
    )
    with op.batch_alter_table("leaderboard", schema=None) as batch_op:
        batch_op.create_index(
            "ix_leaderboard_period_taken_at", ["period", "taken_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_leaderboard_user_id"), ["user_id"], unique=False)

    op.create_table(
        "player_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("game", sa.String(length=50), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("earnings", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("created_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_player_results_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_player_results")),
        sa.UniqueConstraint(
            "reference", "user_id", name=op.f("uq_player_results_reference_user_id")
        ),
    )
    with op.batch_alter_table("player_results", schema=None) as batch_op:
        batch_op.create_index("ix_player_results_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_player_results_game_created_at", ["game", "created_at"], unique=False
        )
        batch_op.create_index("ix_player_results_user_id_id", ["user_id", "id"], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes; MariaDB refuses to drop an index that backs a
    # foreign key on its own.
    op.drop_table("player_results")
    op.drop_table("leaderboard")
    op.drop_table("service_credentials")
    op.drop_table("external_games")
