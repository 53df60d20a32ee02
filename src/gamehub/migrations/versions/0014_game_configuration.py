"""games changed at run time: versioned Spin and Win reward tables, roulette's rake and
side-bet edge on the game row, each bet's reward table version

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from pydantic_settings import BaseSettings, SettingsConfigDict

from gamehub.games import fairness
from gamehub.models.base import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


class _Configured(BaseSettings):
    """The three settings the games read until now, as gamehub.settings reads them, and
    nothing else: an install's other settings must not stop its migration."""

    model_config = SettingsConfigDict(env_prefix="GAMEHUB_", env_file=".env", extra="ignore")
    spin_reward_table: str | None = None
    roulette_rake_bps: int = 500
    roulette_side_bet_edge_bps: int = 500


def upgrade() -> None:
    op.create_table(
        "reward_tables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("game_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("table", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["game_id"],
            ["games.id"],
            name=op.f("fk_reward_tables_game_id_games"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_tables")),
        sa.UniqueConstraint("game_id", "version", name=op.f("uq_reward_tables_game_id_version")),
    )
    with op.batch_alter_table("games", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reward_table_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rake_bps", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("side_bet_edge_bps", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("bets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reward_table_version", sa.Integer(), nullable=True))

    # What the settings configured until now becomes the games' first configuration: the
    # table as version 1, the rake and edge on roulette's row. From here on they change
    # through the admin API (docs/operators.md), on every worker, without a restart.
    settings = _Configured()
    table = (
        fairness.DEFAULT_SPIN_TABLE
        if settings.spin_reward_table is None
        else fairness.parse_reward_table(settings.spin_reward_table)
    )
    bind = op.get_bind()
    games = sa.table(
        "games",
        sa.column("id", sa.Integer),
        sa.column("slug", sa.String),
        sa.column("reward_table_version", sa.Integer),
        sa.column("rake_bps", sa.Integer),
        sa.column("side_bet_edge_bps", sa.Integer),
    )
    spin_id = bind.execute(sa.select(games.c.id).where(games.c.slug == "spin-and-win")).scalar()
    if spin_id is not None:
        op.bulk_insert(
            sa.table(
                "reward_tables",
                sa.column("game_id", sa.Integer),
                sa.column("version", sa.Integer),
                sa.column("table", sa.Text),
                sa.column("created_at", UTCDateTime()),
                sa.column("created_by", sa.String),
            ),
            [
                {
                    "game_id": spin_id,
                    "version": 1,
                    "table": json.dumps(table.public()),
                    "created_at": datetime.now(UTC),
                    "created_by": "migration",
                }
            ],
        )
        op.execute(games.update().where(games.c.id == spin_id).values(reward_table_version=1))
        # Every spin played so far was played with that table.
        bets = sa.table(
            "bets",
            sa.column("game_id", sa.Integer),
            sa.column("reward_table_version", sa.Integer),
        )
        op.execute(bets.update().where(bets.c.game_id == spin_id).values(reward_table_version=1))
    op.execute(
        games.update()
        .where(games.c.slug == "russian-roulette")
        .values(
            rake_bps=settings.roulette_rake_bps,
            side_bet_edge_bps=settings.roulette_side_bet_edge_bps,
        )
    )


def downgrade() -> None:
    # First: on SQLite dropping the games' columns rebuilds the table, which a table
    # still pointing at it would refuse.
    op.drop_table("reward_tables")
    with op.batch_alter_table("bets", schema=None) as batch_op:
        batch_op.drop_column("reward_table_version")
    with op.batch_alter_table("games", schema=None) as batch_op:
        batch_op.drop_column("side_bet_edge_bps")
        batch_op.drop_column("rake_bps")
        batch_op.drop_column("reward_table_version")
