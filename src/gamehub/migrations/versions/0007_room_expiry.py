"""roulette lobbies: what joins lock instead of the games row

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roulette_lobbies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stake", sa.BigInteger(), nullable=False),
        sa.Column("max_players", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roulette_lobbies")),
        sa.UniqueConstraint(
            "currency",
            "stake",
            "max_players",
            name=op.f("uq_roulette_lobbies_currency_stake_max_players"),
        ),
    )


def downgrade() -> None:
    op.drop_table("roulette_lobbies")
