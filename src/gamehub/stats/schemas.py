"""Stats, history and leaderboard bodies. Amounts are major units (KES 12.50 is 12.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from gamehub.accounts.schemas import Username

GameSlug = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$",
        description="A game's slug",
        examples=["spin-and-win"],
    ),
]


class Totals(Struct):
    # Settled bets (won, lost or pushed): the seed's block, under its names; net_profit
    # is total_won - total_wagered over these bets.
    total_bets: int
    total_wagered: float
    total_won: float
    net_profit: float
    # Settled games, whether played here or reported by a game server. Earnings is the
    # name of "won less staked" everywhere else (leaderboards, POST /stats, events); it
    # equals net_profit unless a game server reported results, which have no bets.
    win_count: int
    loss_count: int
    earnings: float


class GameTotals(Struct):
    game: str
    total_bets: int
    total_wagered: float
    total_won: float
    net_profit: float
    win_count: int
    loss_count: int
    earnings: float


class OwnStatsOut(Struct):
    overall: Totals
    by_game: list[GameTotals]


class PublicStatsIn(Struct, forbid_unknown_fields=True):
    username: Username


class PublicStatsOut(Struct, omit_defaults=True):
    username: str
    user_id: int
    win_count: int
    loss_count: int
    earnings: float
    # Only in the answer about the caller's own account.
    wallet: float | None = None


class HistoryItem(Struct):
    id: int
    game: str
    bet_amount: float
    win_amount: float
    net_result: float
    created_at: datetime
    kind: str
    status: str
    result: str | None
    settled_at: datetime | None
    room_id: int | None
    # What verifies the bet (docs/fairness.md); server_seed once it has been revealed.
    server_seed_hash: str
    server_seed: str | None
    client_seed: str | None
    nonce: int | None
    # A side bet's payout per unit staked, as a number and exactly ("19/10").
    odds: float | None
    odds_exact: str | None
    # Taxes (docs/operators.md, "Taxes"): the excise withheld from bet_amount and the tax
    # withheld from the winnings (win_amount is net of it); 0 where none applies.
    stake_tax: float
    winnings_tax: float
    # A spin's reward table, by version (GET /games/{game}/reward-tables/{version}).
    reward_table_version: int | None = None


class LeaderboardEntryOut(Struct):
    rank: int
    username: str
    win_count: int
    loss_count: int
    earnings: float
    user_id: int


class LeaderboardMeOut(Struct):
    period: str
    # The period's bucket: "all", "2026-11-22", "2026-W47" or "2026-11".
    bucket: str
    game: str | None
    username: str
    # Null until the caller has a result on this board.
    rank: int | None
    win_count: int
    loss_count: int
    earnings: float
    above: list[LeaderboardEntryOut]
    below: list[LeaderboardEntryOut]
