"""Game request and response bodies. Amounts are major units, decoded exactly."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from gamehub.core.money import Amount, OptionalAmount
from gamehub.core.params import Id


class GameOut(Struct):
    slug: str
    name: str
    description: str
    rules: str
    min_bet: float
    max_bet: float
    is_active: bool
    # Theoretical return to player and house edge, as fractions of the stake.
    rtp: float
    house_edge: float
    rtp_exact: str
    reward_table: list[dict[str, str | int]] | None = None
    # The version of the table in force, which each bet names (GET
    # /games/{slug}/reward-tables/{version} shows any version).
    reward_table_version: int | None = None


class RewardTableOut(Struct):
    """One version of a reward table: never changed once written."""

    version: int
    table: list[dict[str, str | int]]
    rtp: float
    rtp_exact: str
    created_at: datetime


class FairnessRef(Struct):
    server_seed_hash: str
    client_seed: str
    nonce: int


class SpinIn(Struct, forbid_unknown_fields=True):
    bet_amount: Amount


class SpinOut(Struct):
    bet_id: int
    result: str
    multiplier: float
    # What the wallet was paid, net of the tax on winnings.
    win_amount: float
    new_balance: float
    fairness: FairnessRef
    # Taxes (docs/operators.md, "Taxes"): the excise withheld from the stake and the tax
    # withheld from the winnings; 0 where none applies.
    stake_tax: float
    winnings_tax: float
    # The reward table the spin was played with.
    reward_table_version: int


class JoinIn(Struct, forbid_unknown_fields=True):
    stake: OptionalAmount = None
    max_players: int = 2
    # The seed's field: the game (its id or slug); roulette is the only multiplayer game.
    game_id: Id | str | None = None


class JoinOut(Struct):
    roulette_id: int
    # The room's id again, under the seed's name for it (its join client reads game_id).
    game_id: int
    status: str
    players: int
    max_players: int
    seat: int
    stake: float
    seed_hash: str
    # The excise withheld from the stake (docs/operators.md, "Taxes"); 0 when untaxed.
    stake_tax: float
    # The room's rake on the pot, in basis points (500 = 5%): fixed when the room
    # opened, whatever the game's rake becomes.
    rake_bps: int


class RoomIn(Struct, forbid_unknown_fields=True):
    roulette_id: Id | None = None
    # The seed's name for the room.
    game_id: Id | None = None


class PullOut(Struct):
    roulette_id: int
    # The chamber just pulled, 1 to 6 (the seed's SSE events call it position).
    chamber: int
    is_hit: bool
    # Whose pull it is now (the user id); null once the game is over.
    next_player: int | None
    game_over: bool
    # Once the game is over: what it paid the caller (their pot share and side bets)
    # and the caller's balance after it; null while it goes on.
    payout: float | None = None
    new_balance: float | None = None


class LeaveOut(Struct):
    status: str
    roulette_id: int
    refunded: float
    forfeited: bool


class PlaceBetIn(Struct, forbid_unknown_fields=True):
    roulette_id: Id
    player_id: Id
    bet_type: Literal["survival", "elimination"]
    bet_amount: Amount


class PlaceBetOut(Struct):
    status: str
    bet_id: int
    bet_type: str
    player_id: int
    bet_amount: float
    # The payout per unit staked, as a number and exactly ("19/10").
    odds: float
    odds_exact: str
    # What a win pays the wallet, after the taxes (docs/operators.md, "Taxes").
    potential_win: float
    new_balance: float
    # The excise withheld from the bet; 0 when untaxed.
    stake_tax: float


class CancelBetIn(Struct, forbid_unknown_fields=True):
    bet_id: Annotated[int, Meta(examples=[1234])]


class CancelBetOut(Struct):
    status: str
    bet_id: int
    roulette_id: int
    refunded: float
    new_balance: float


class PlayerOut(Struct):
    user_id: int
    username: str
    seat: int
    status: str


class SideBetOut(Struct):
    bet_id: int
    user_id: int
    player_id: int | None
    bet_type: str
    bet_amount: float
    odds: float | None
    odds_exact: str | None
    status: str
    win_amount: float


class RoomOut(Struct):
    roulette_id: int
    status: str
    stake: float
    max_players: int
    players: list[PlayerOut]
    # Whose pull it is (the user id) while the game is played, as in the pull's answer.
    next_player: int | None
    turn_deadline: datetime | None
    chambers_pulled: int
    pot: float
    # The rake the pot is settled at, in basis points (500 = 5%) and exactly ("1/20"):
    # the game's when the room opened, kept for the room's life.
    rake_bps: int
    rake_exact: str
    bets_open: bool
    side_bets: list[SideBetOut]
    seed_hash: str
    # Shown once the game is over.
    seed: str | None
    # The chamber that held the bullet (the seed's SSE events call it bullet_position).
    bullet_chamber: int | None
    eliminated_player: int | None
    end_reason: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class RoomPage(Struct):
    items: list[RoomOut]
    next_cursor: str | None


class RevealedSeed(Struct):
    server_seed: str
    server_seed_hash: str
    client_seed: str
    # Bets under this seed used nonces 0 to next_nonce - 1.
    next_nonce: int


class FairnessOut(Struct):
    server_seed_hash: str
    client_seed: str
    nonce: int
    previous: RevealedSeed | None


class ClientSeedIn(Struct, forbid_unknown_fields=True):
    client_seed: Annotated[str, Meta(examples=["my-lucky-seed"])]


class RotateOut(Struct):
    revealed: RevealedSeed
    current: FairnessRef


class VerifyOut(Struct):
    bet_id: int
    kind: str
    server_seed: str
    server_seed_hash: str
    client_seed: str | None
    nonce: int | None
    result: str | None
    recomputed: str
    matches: bool
    # Spin and Win: the table the bet was played with (its version), which recomputed it.
    reward_table_version: int | None = None
    reward_table: list[dict[str, str | int]] | None = None
