"""Every event the SSE streams carry: its name, who hears it, and its payload's struct.

A service publishes an event through :func:`gamehub.core.events.publish_after_commit`,
which builds the payload with the event's struct (:func:`payload`, installed by the
composition root): an unknown name, a
missing field or one the struct does not name fails there, in the request, rather than
reaching clients. docs/events.md is generated from this module (``make docs``), and
tests/test_contract.py fails when it is stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from msgspec import Struct

PLAYER = "the player's own stream (GET /events)"
PLAYERS = "each player concerned, on their own stream"
ROOM = "the room's players and bettors, and its watchers (GET /games/roulette/{id}/events)"


class Payload(Struct, forbid_unknown_fields=True):
    """What every event payload is: a struct that names all of its fields."""


# The stream itself


class Connected(Payload):
    """The first frame of every stream."""

    topics: list[str]
    heartbeat_seconds: float
    # The Last-Event-ID the stream resumed after (missed events are replayed first).
    resumed_from: str | None


class Heartbeat(Payload):
    """Sent when nothing else was for ``heartbeat_seconds``; its id is a resume point."""

    time: datetime


class StreamClosed(Payload):
    """The last frame: the credential that opened the stream was revoked (a logout, a
    password change, a deactivation). Reconnecting needs a new credential."""

    reason: str


class StreamCloseOrder(Payload):
    """Internal: the order, on the bus, that ends the streams of one session (``family``)
    or of every credential issued ``before``; clients see :class:`StreamClosed`."""

    reason: str
    family: str | None
    before: float


# Money


class BetUpdate(Payload):
    """A Spin and Win bet, settled."""

    game: str
    bet_id: int
    amount: float
    win_amount: float
    result: str
    balance: float
    # Withheld from the stake and from the winnings (docs/operators.md, "Taxes"):
    # win_amount is what the wallet was paid, after the tax; 0 when untaxed.
    stake_tax: float = 0
    winnings_tax: float = 0


class DepositUpdate(Payload):
    """A deposit moved on (completed, failed, expired, or held for review)."""

    deposit_id: int
    status: str
    amount: float
    mpesa_receipt: str | None
    result_code: str | None
    result_desc: str | None


class WithdrawalUpdate(Payload):
    """A withdrawal moved on (completed, failed and refunded, or held for review)."""

    withdrawal_id: int
    status: str
    amount: float
    mpesa_receipt: str | None
    result_code: str | None
    result_desc: str | None


class TransactionUpdate(Payload):
    """A movement of the player's wallet (any: payments, bets, payouts, refunds,
    settlements), as GET /wallet/transactions lists it, with the balance after it."""

    id: int
    category: str
    amount: float
    balance_after: float
    currency: str
    reference: str | None
    description: str | None
    created_at: datetime
    # The taxes the movement posted (docs/operators.md, "Taxes"); negative when a refund
    # gave tax back; 0 when untaxed.
    tax: float = 0


class LeaderboardUpdate(Payload):
    """The player's results counted on the leaderboards."""

    games: list[str]
    change: float
    rank: int | None
    earnings: float | None


# Russian Roulette


class RoomStatus(Payload):
    """A roulette room's state changed (a seat taken or freed, the game started or over)."""

    game_id: int
    roulette_id: int
    status: str
    players: int
    max_players: int


class SessionStatus(Payload):
    """A matchmaking game session was registered or refreshed (POST /update)."""

    game_id: str
    game: str
    status: str
    players: int


class GameStarted(Payload):
    """A room filled: seat 0 pulls first. The seed's hash is its commitment."""

    game_id: int
    roulette_id: int
    seed_hash: str


class TriggerResult(Payload):
    """A pull of the trigger (``forced`` when the turn clock pulled for an absent player)."""

    roulette_id: int
    player_id: int
    chamber: int
    position: int
    is_hit: bool
    forced: bool
    next_player: int | None
    game_over: bool


class PlayerLeft(Payload):
    """A player left the room: before the start with their stake refunded (``refunds``),
    or during the game, forfeiting."""

    roulette_id: int
    user_id: int
    refunds: dict[str, float] | None = None


class RoomResult(Payload):
    """A roulette game ended: who was eliminated, the revealed seed, and the payouts by
    user id."""

    roulette_id: int
    eliminated_player: int | None
    reason: str | None
    bullet_chamber: int
    # The seed's name for bullet_chamber.
    bullet_position: int
    seed: str
    seed_hash: str
    payouts: dict[str, float]
    game_over: bool


class SessionResult(Payload):
    """A matchmaking game session ended (POST /terminate) with each player's result."""

    game_id: str
    game: str
    status: str
    game_over: bool
    results: list[dict[str, Any]]


class RoomCancelled(Payload):
    """A room closed before its game (it expired, or everyone left): the refunds by user
    id."""

    roulette_id: int
    reason: str | None
    refunds: dict[str, float]


class BetPlaced(Payload):
    """A side bet on a player's survival or elimination."""

    roulette_id: int
    bet_id: int
    user_id: int
    player_id: int
    bet_type: str
    bet_amount: float
    odds: float
    # The odds as an exact fraction ("19/10").
    odds_exact: str


class BetCancelled(Payload):
    """A side bet taken back (or refunded with its room) before the game."""

    roulette_id: int
    bet_id: int
    user_id: int
    player_id: int | None
    bet_type: str
    bet_amount: float


class RealityCheck(Payload):
    """The player's reminder (PUT /responsible-gaming ``reality_check_minutes``), sent with
    the first bet once that many minutes of play have passed since the session began or
    since the last reminder: how long the session has lasted and what it has won or lost."""

    session_started_at: datetime
    session_minutes: int
    # Winnings less stakes since the session began, in major units; negative for a loss.
    net_result: float
    stakes: float


@dataclass(frozen=True)
class EventSpec:
    name: str
    # The forms its payload takes: the first that fits builds it.
    forms: tuple[type[Payload], ...]
    audience: str
    # False for a frame the stream writes itself rather than a published event.
    published: bool = True


CATALOG: tuple[EventSpec, ...] = (
    EventSpec("connected", (Connected,), "every stream", published=False),
    EventSpec("heartbeat", (Heartbeat,), "every stream", published=False),
    EventSpec("stream_closed", (StreamClosed,), PLAYER, published=False),
    EventSpec("bet_update", (BetUpdate,), PLAYER),
    EventSpec("deposit_update", (DepositUpdate,), PLAYER),
    EventSpec("withdrawal_update", (WithdrawalUpdate,), PLAYER),
    EventSpec("transaction_update", (TransactionUpdate,), PLAYER),
    EventSpec("leaderboard_update", (LeaderboardUpdate,), PLAYER),
    EventSpec("reality_check", (RealityCheck,), PLAYER),
    EventSpec("game_status", (RoomStatus, SessionStatus), f"{ROOM}; for a session, {PLAYERS}"),
    EventSpec("game_started", (GameStarted,), ROOM),
    EventSpec("trigger_result", (TriggerResult,), ROOM),
    EventSpec("player_left", (PlayerLeft,), ROOM),
    EventSpec("game_result", (RoomResult, SessionResult), f"{ROOM}; for a session, {PLAYERS}"),
    EventSpec("room_cancelled", (RoomCancelled,), ROOM),
    EventSpec("bet_placed", (BetPlaced,), ROOM),
    EventSpec("bet_cancelled", (BetCancelled,), ROOM),
)

# What may be published on the bus, by name: the catalog's published events, and the
# internal order that closes streams.
_PUBLISHED: dict[str, tuple[type[Payload], ...]] = {
    **{spec.name: spec.forms for spec in CATALOG if spec.published},
    "stream_closed": (StreamCloseOrder,),
}


def payload(name: str, data: Any) -> dict[str, Any]:
    """``data`` built into event ``name``'s struct, as the builtins that go on the bus."""
    forms = _PUBLISHED.get(name)
    if forms is None:
        raise ValueError(f"{name!r} is no event of docs/events.md")
    failures = []
    for form in forms:
        try:
            built = msgspec.convert(data, form)
        except msgspec.ValidationError as exc:
            failures.append(f"{form.__name__}: {exc}")
            continue
        result: dict[str, Any] = msgspec.to_builtins(built)
        return result
    raise ValueError(f"{name!r} does not fit its struct: {'; '.join(failures)}")


def frame(body: Payload) -> bytes:
    """A stream-written frame's data line."""
    return msgspec.json.encode(body)
