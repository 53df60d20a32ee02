"""Settled results, one row per player per game, and the seed's leaderboard snapshots."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, BigIntPK, UTCDateTime, utcnow


class Outcome(StrEnum):
    WIN = "win"
    LOSS = "loss"
    # Neither: a stake returned in full, a drawn game.
    DRAW = "draw"


class PlayerResult(Base):
    """What one settled game did to one player's standing.

    Written with the player's ``stats`` update in the settling transaction, so that every
    leaderboard (all time, per period, per game) can be rebuilt from the database.
    Within one player, ids follow commit order (see ``gamehub.stats.hooks``).
    """

    __tablename__ = "player_results"
    __table_args__ = (
        Index("ix_player_results_user_id_id", "user_id", "id"),
        Index("ix_player_results_created_at", "created_at"),
        Index("ix_player_results_game_created_at", "game", "created_at"),
        # An externally reported game counts each of its players once.
        UniqueConstraint("reference", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # The catalog slug ("spin-and-win") or the slug a game server reported.
    game: Mapped[str] = mapped_column(String(50))
    outcome: Mapped[str] = mapped_column(String(8))
    # Minor units won minus staked; negative for a loss.
    earnings: Mapped[int] = mapped_column(BigInteger)
    # What settled it, when the caller names it ("terminate:<game id>").
    reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LeaderboardSnapshot(Base):
    """The seed's ``leaderboard`` table: the top of a board as it stood at ``taken_at``."""

    __tablename__ = "leaderboard"
    __table_args__ = (Index("ix_leaderboard_period_taken_at", "period", "taken_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # all, day, week or month, and the bucket it covered ("2026-11-22", "2026-W47").
    period: Mapped[str] = mapped_column(String(8))
    bucket: Mapped[str] = mapped_column(String(16))
    # Empty for the board over every game.
    game: Mapped[str] = mapped_column(String(50), default="")
    rank: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    earnings: Mapped[int] = mapped_column(BigInteger)
    win_count: Mapped[int] = mapped_column(Integer)
    loss_count: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
