"""games

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:38:50.303807
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import gamehub.models.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "games",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("min_bet", sa.BigInteger(), nullable=False),
        sa.Column("max_bet", sa.BigInteger(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_games")),
        sa.UniqueConstraint("slug", name=op.f("uq_games_slug")),
    )
    op.create_table(
        "fairness_seeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("server_seed", sa.String(length=64), nullable=False),
        sa.Column("server_seed_hash", sa.String(length=64), nullable=False),
        sa.Column("client_seed", sa.String(length=64), nullable=False),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.Column("created_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.Column("revealed_at", gamehub.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_fairness_seeds_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fairness_seeds")),
        sa.UniqueConstraint("server_seed_hash", name=op.f("uq_fairness_seeds_server_seed_hash")),
    )
    with op.batch_alter_table("fairness_seeds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fairness_seeds_user_id_revealed_at", ["user_id", "revealed_at"], unique=False
        )

    op.create_table(
        "roulette_rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stake", sa.BigInteger(), nullable=False),
        sa.Column("max_players", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("seed_hash", sa.String(length=64), nullable=False),
        sa.Column("chambers_pulled", sa.Integer(), nullable=False),
        sa.Column("turn_seat", sa.Integer(), nullable=True),
        sa.Column("turn_deadline", gamehub.models.base.UTCDateTime(), nullable=True),
        sa.Column("eliminated_user_id", sa.Integer(), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("rake", sa.BigInteger(), nullable=False),
        sa.Column("created_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.Column("started_at", gamehub.models.base.UTCDateTime(), nullable=True),
        sa.Column("ended_at", gamehub.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["eliminated_user_id"],
            ["users.id"],
            name=op.f("fk_roulette_rooms_eliminated_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roulette_rooms")),
    )
    with op.batch_alter_table("roulette_rooms", schema=None) as batch_op:
        batch_op.create_index(
            "ix_roulette_rooms_open", ["status", "stake", "max_players"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_roulette_rooms_turn_deadline"), ["turn_deadline"], unique=False
        )

    op.create_table(
        "game_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("game_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.Column("ended_at", gamehub.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["game_id"],
            ["games.id"],
            name=op.f("fk_game_sessions_game_id_games"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["roulette_rooms.id"],
            name=op.f("fk_game_sessions_room_id_roulette_rooms"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_game_sessions_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_game_sessions")),
    )
    with op.batch_alter_table("game_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_game_sessions_room_id"), ["room_id"], unique=False)
        batch_op.create_index(
            "ix_game_sessions_user_id_started_at", ["user_id", "started_at"], unique=False
        )

    op.create_table(
        "roulette_seats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seat", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("joined_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["roulette_rooms.id"],
            name=op.f("fk_roulette_seats_room_id_roulette_rooms"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_roulette_seats_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roulette_seats")),
        sa.UniqueConstraint("room_id", "seat", name=op.f("uq_roulette_seats_room_id_seat")),
        sa.UniqueConstraint("room_id", "user_id", name=op.f("uq_roulette_seats_room_id_user_id")),
    )
    op.create_table(
        "bets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("game_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("win_amount", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=True),
        sa.Column("server_seed_hash", sa.String(length=64), nullable=False),
        sa.Column("client_seed", sa.String(length=64), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("seed_id", sa.Integer(), nullable=True),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("target_user_id", sa.Integer(), nullable=True),
        sa.Column("odds", sa.String(length=40), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", gamehub.models.base.UTCDateTime(), nullable=False),
        sa.Column("settled_at", gamehub.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["game_id"], ["games.id"], name=op.f("fk_bets_game_id_games"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["roulette_rooms.id"],
            name=op.f("fk_bets_room_id_roulette_rooms"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["seed_id"],
            ["fairness_seeds.id"],
            name=op.f("fk_bets_seed_id_fairness_seeds"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["game_sessions.id"],
            name=op.f("fk_bets_session_id_game_sessions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["target_user_id"],
            ["users.id"],
            name=op.f("fk_bets_target_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bets_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bets")),
    )
    with op.batch_alter_table("bets", schema=None) as batch_op:
        batch_op.create_index("ix_bets_room_id_kind", ["room_id", "kind"], unique=False)
        batch_op.create_index("ix_bets_user_id_id", ["user_id", "id"], unique=False)

    games = sa.table(
        "games",
        sa.column("slug", sa.String),
        sa.column("name", sa.String),
        sa.column("description", sa.Text),
        sa.column("rules", sa.Text),
        sa.column("min_bet", sa.BigInteger),
        sa.column("max_bet", sa.BigInteger),
        sa.column("is_active", sa.Boolean),
        sa.column("created_at", gamehub.models.base.UTCDateTime()),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        games,
        [
            {
                "slug": "spin-and-win",
                "name": "Spin and Win",
                "description": "A single-player wheel: stake, spin, and win the multiplier shown.",
                "rules": (
                    "Each spin draws one segment of the reward table, weighted, from "
                    "HMAC-SHA256(server seed, 'client_seed:nonce'); the win is the stake "
                    "times its multiplier, rounded down to the cent. See docs/fairness.md."
                ),
                "min_bet": 1_000,
                "max_bet": 1_000_000,
                "is_active": True,
                "created_at": now,
            },
            {
                "slug": "russian-roulette",
                "name": "Russian Roulette",
                "description": "Two, three or six players, six chambers, one bullet.",
                "rules": (
                    "Every player stakes the same amount into the pot. The room's seed, "
                    "committed by its SHA-256 when the room opens, places the bullet; players "
                    "pull in seat order with no re-spin, so each seat is equally likely to be "
                    "hit. The player hit is out; the others share the pot less the rake. "
                    "Leaving during the game forfeits the stake. Anyone may bet on a player's "
                    "survival or elimination until the first pull, at fixed odds."
                ),
                "min_bet": 1_000,
                "max_bet": 1_000_000,
                "is_active": True,
                "created_at": now,
            },
        ],
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; MariaDB refuses to drop an index that backs a
    # foreign key on its own.
    op.drop_table("bets")
    op.drop_table("roulette_seats")
    op.drop_table("game_sessions")
    op.drop_table("roulette_rooms")
    op.drop_table("fairness_seeds")
    op.drop_table("games")
