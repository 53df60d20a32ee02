"""Bodies of the matchmaking and game-server routes. Amounts are major units."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from gamehub.accounts.schemas import Username
from gamehub.core.money import SignedAmount
from gamehub.core.params import INT64_MAX, Id
from gamehub.stats.schemas import GameSlug

# The matchmaker's session id: its own 6-character codes, or a number.
GameId = Annotated[
    str,
    Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", examples=["match-0042"]),
]
NumericGameId = Annotated[int, Meta(ge=0, le=INT64_MAX)]


class UpdateIn(Struct, forbid_unknown_fields=True):
    game_id: GameId | NumericGameId
    num_players: Annotated[int, Meta(ge=0, le=10_000)]
    # User ids or usernames of the players in the session.
    players: Annotated[list[Id | Username], Meta(max_length=1_000)] | None = None
    # Which game it is, for per-game stats and leaderboards.
    game: GameSlug | None = None


class SessionOut(Struct):
    game_id: str
    game: str
    status: str
    num_players: int
    players: list[int]
    updated_at: datetime
    expires_at: datetime


class SessionPage(Struct):
    items: list[SessionOut]
    # Pass as ?cursor= for the next page; null on the last page.
    next_cursor: str | None


class UpdateOut(Struct):
    message: str
    session: SessionOut


class ResultIn(Struct, forbid_unknown_fields=True):
    outcome: Literal["win", "loss", "draw"]
    # Won minus staked, negative for a loss.
    earnings: SignedAmount
    user_id: int | None = None
    username: Username | None = None


class TerminateIn(Struct, forbid_unknown_fields=True):
    game_id: GameId | NumericGameId
    results: Annotated[list[ResultIn], Meta(max_length=1_000)] | None = None
    game: GameSlug | None = None
    # Also move each player's earnings between their wallet and the house.
    settle_wallets: bool = False


class ResultOut(Struct):
    user_id: int
    username: str
    outcome: str
    earnings: float
    # With settle_wallets (docs/operators.md, "Taxes"): the excise withheld from what a
    # loss collected, and the tax withheld from a win's earnings (the wallet was paid
    # earnings - winnings_tax); 0 when untaxed or not settled.
    stake_tax: float = 0
    winnings_tax: float = 0


class TerminateOut(Struct):
    message: str
    game_id: str
    game: str
    results: list[ResultOut]
    wallets_settled: bool
    # True when this game had been terminated before: nothing was recorded again.
    replayed: bool
