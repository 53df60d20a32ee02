"""The game catalog, provably-fair seeds, game sessions, bets and roulette rooms."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, BigIntPK, UTCDateTime, utcnow


class Game(Base):
    __tablename__ = "games"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    rules: Mapped[str] = mapped_column(Text)
    # Minor units.
    min_bet: Mapped[int] = mapped_column(BigInteger)
    max_bet: Mapped[int] = mapped_column(BigInteger)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Spin and Win: the version of its reward table in force (a row of reward_tables).
    # No foreign key: reward_tables already points here, and a cycle of keys is more
    # trouble to create and drop than the one writer of this column (admin) is to trust.
    reward_table_version: Mapped[int | None] = mapped_column(Integer)
    # Russian Roulette, in basis points (500 = 5%): the pot's rake, the side bets' edge.
    rake_bps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    side_bet_edge_bps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RewardTable(Base):
    """One version of a game's reward table: written once, never changed, so that every
    bet played with it verifies with it for ever (bets name their version)."""

    __tablename__ = "reward_tables"
    __table_args__ = (UniqueConstraint("game_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    # The table's public JSON form: [{"multiplier": "2.0", "weight": 18}, ...].
    table: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # "migration", or the operator's "user:<name>".
    created_by: Mapped[str] = mapped_column(String(100))


class FairnessSeed(Base):
    """A player's server seed: committed by its hash, revealed when rotated away."""

    __tablename__ = "fairness_seeds"
    __table_args__ = (Index("ix_fairness_seeds_user_id_revealed_at", "user_id", "revealed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    server_seed: Mapped[str] = mapped_column(String(64))
    server_seed_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_seed: Mapped[str] = mapped_column(String(64))
    # The nonce the next bet will use.
    next_nonce: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set when rotated away; only then may the server seed be shown.
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SessionStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class GameSession(Base):
    __tablename__ = "game_sessions"
    __table_args__ = (Index("ix_game_sessions_user_id_started_at", "user_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="RESTRICT"))
    room_id: Mapped[int | None] = mapped_column(
        ForeignKey("roulette_rooms.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.ACTIVE.value)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BetKind(StrEnum):
    SPIN = "spin"
    ROULETTE_STAKE = "roulette_stake"
    SURVIVAL = "survival"
    ELIMINATION = "elimination"


class BetStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    # A spin returning exactly the stake, or a roulette stake given back.
    PUSH = "push"
    REFUNDED = "refunded"


class Bet(Base):
    __tablename__ = "bets"
    __table_args__ = (
        Index("ix_bets_user_id_id", "user_id", "id"),
        Index("ix_bets_room_id_kind", "room_id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("game_sessions.id", ondelete="RESTRICT")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default=BetStatus.OPEN.value)
    # Minor units: the stake, what was paid back (0 when lost).
    amount: Mapped[int] = mapped_column(BigInteger)
    win_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    # Taxes (gamehub.wallet.taxes): the excise withheld from the stake (what is in play
    # is amount - stake_tax), and the tax withheld from the winnings (win_amount is net
    # of it).
    stake_tax: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    winnings_tax: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The seed's text form of the outcome: "2.0x", "survived", "eliminated".
    result: Mapped[str | None] = mapped_column(String(32))
    # What verifies it: the seed commitment, the client seed and nonce (spins), and
    # the segment drawn (JSON; the table is the version named below).
    server_seed_hash: Mapped[str] = mapped_column(String(64))
    client_seed: Mapped[str | None] = mapped_column(String(64))
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    seed_id: Mapped[int | None] = mapped_column(
        ForeignKey("fairness_seeds.id", ondelete="RESTRICT")
    )
    room_id: Mapped[int | None] = mapped_column(
        ForeignKey("roulette_rooms.id", ondelete="RESTRICT")
    )
    # Side bets: the player bet on, and the fixed odds as a fraction "num/den".
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    odds: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[str] = mapped_column(Text, default="{}")
    # Spin and Win: the version of the reward table it was played with. No foreign key:
    # every spin would share a key lock on that one reward_tables row.
    reward_table_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RoomStatus(StrEnum):
    WAITING = "waiting"
    PLAYING = "playing"
    FINISHED = "finished"
    # Everyone left before it started, or it did not fill in time.
    CANCELLED = "cancelled"


# A room in one of these is over: nothing more happens in it, and its seed is revealed.
OVER_STATUSES = (RoomStatus.FINISHED.value, RoomStatus.CANCELLED.value)


class RouletteLobby(Base):
    """One row per kind of room (currency, stake, size), locked by each join of that
    kind: joins find or open a room one at a time, and rooms fill in turn. Nothing but a
    join locks it, so it is never part of a lock cycle (the games row was, because every
    bet's foreign key shares its lock)."""

    __tablename__ = "roulette_lobbies"
    __table_args__ = (UniqueConstraint("currency", "stake", "max_players"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    stake: Mapped[int] = mapped_column(BigInteger)
    max_players: Mapped[int] = mapped_column(Integer)


class RouletteRoom(Base):
    __tablename__ = "roulette_rooms"
    __table_args__ = (Index("ix_roulette_rooms_open", "status", "stake", "max_players"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=RoomStatus.WAITING.value)
    currency: Mapped[str] = mapped_column(String(3))
    stake: Mapped[int] = mapped_column(BigInteger)
    max_players: Mapped[int] = mapped_column(Integer)
    # Committed by its hash when the room opens; shown once the game is over.
    seed: Mapped[str] = mapped_column(String(64))
    seed_hash: Mapped[str] = mapped_column(String(64))
    chambers_pulled: Mapped[int] = mapped_column(Integer, default=0)
    # Seat whose turn it is, and by when it must pull (the job pulls for it after).
    turn_seat: Mapped[int | None] = mapped_column(Integer)
    turn_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    eliminated_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    # Why it ended: "hit", "forfeit"; why it was cancelled: "abandoned", "expired".
    end_reason: Mapped[str | None] = mapped_column(String(16))
    # What the house took from the pot (minor units), once settled.
    rake: Mapped[int] = mapped_column(BigInteger, default=0)
    # The rake in force on the game's row when the room opened (basis points): the
    # first player's stake is taken in that same transaction and everyone who joins
    # after sees it in the room's state, so an operator's later change never alters
    # the terms of money already staked. Settlement takes this, not the game's row.
    rake_bps: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # The two rules every reader of a room shares, here once, in Python and in SQL.
    @hybrid_property
    def is_over(self) -> bool:
        """Finished or cancelled: its seed (and so its bullet) may be shown."""
        return self.status in OVER_STATUSES

    @is_over.inplace.expression
    @classmethod
    def _is_over_expression(cls) -> ColumnElement[bool]:
        return cls.status.in_(OVER_STATUSES)

    @property
    def bets_open(self) -> bool:
        """Side bets are taken until the first pull of a game that is not over."""
        return not self.is_over and self.chambers_pulled == 0


class SeatStatus(StrEnum):
    SEATED = "seated"
    LEFT = "left"
    ELIMINATED = "eliminated"
    SURVIVED = "survived"


class RouletteSeat(Base):
    __tablename__ = "roulette_seats"
    __table_args__ = (
        # The database itself refuses a second player on a seat: no room overfills.
        UniqueConstraint("room_id", "seat"),
        UniqueConstraint("room_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("roulette_rooms.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    seat: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=SeatStatus.SEATED.value)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
