"""Provably-fair outcomes: pure functions from committed seeds to game results.

Everything here is deterministic given its inputs, uses integers and exact fractions only,
and is specified byte for byte in ``docs/fairness.md`` so that a player can recompute any
bet once its server seed is revealed.

Byte stream. For a key (the server seed, or a room seed, as UTF-8 text, not hex-decoded) and
a base message, round ``r`` of the stream is ``HMAC-SHA256(key, message_r)`` where
``message_0`` is the base message itself and ``message_r`` for ``r >= 1`` is
``f"{base}:{r}"``. The rounds' digests are concatenated and read as 32-bit big-endian
unsigned words. A bet's base message is ``f"{client_seed}:{nonce}"``; a Russian Roulette
room's is ``"chamber"``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import struct
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

WORD_SPACE = 2**32
"""Number of distinct 32-bit words; ``uniform_int`` accepts ``1 <= n <= WORD_SPACE``."""

CLIENT_SEED_MAX_LENGTH = 64
# Printable ASCII without space or ':'. A ':' would let the message of one bet's later round
# ("a:1" nonce 2 -> "a:1:2") equal another bet's ("a" nonce 1 round 2); whitespace and
# non-ASCII would make copy-and-paste verification fragile.
_CLIENT_SEED_RE = re.compile(rf"[!-9;-~]{{1,{CLIENT_SEED_MAX_LENGTH}}}")

ROULETTE_MESSAGE = "chamber"
CHAMBERS = 6
ALLOWED_ROOM_SIZES = (2, 3, 6)
"""Room sizes that divide the six chambers, so every seat is equally likely to be hit."""

# Multipliers are whole hundredths so that labels are exact and configuration cannot smuggle
# in a value whose text form hides its real size.
_MULTIPLIER_TEXT_RE = re.compile(r"[0-9]+(\.[0-9]{1,2})?")


# --- seeds -------------------------------------------------------------------------------


def new_server_seed() -> str:
    """A fresh secret server (or room) seed: 32 random bytes as 64 lowercase hex digits."""
    return secrets.token_hex(32)


def new_client_seed() -> str:
    """A default client seed for a player who has not chosen one: 16 random bytes as hex."""
    return secrets.token_hex(16)


def seed_hash(server_seed: str) -> str:
    """The commitment published before a seed is used: SHA-256 of its UTF-8 text, hex."""
    return hashlib.sha256(server_seed.encode("utf-8")).hexdigest()


def validate_client_seed(client_seed: str) -> str:
    """Return the seed unchanged if a player may use it, else raise ValueError."""
    if not _CLIENT_SEED_RE.fullmatch(client_seed):
        raise ValueError(
            f"client seed must be 1 to {CLIENT_SEED_MAX_LENGTH} printable ASCII characters"
            " without spaces or ':'"
        )
    return client_seed


def _require_commitment(seed: str, expected_hash: str) -> None:
    if not hmac.compare_digest(seed_hash(seed), expected_hash.strip().lower()):
        raise ValueError("server seed does not match the published SHA-256 hash")


# --- byte stream -------------------------------------------------------------------------


def bet_message(client_seed: str, nonce: int) -> str:
    """The base message of a bet's stream: ``f"{client_seed}:{nonce}"``."""
    validate_client_seed(client_seed)
    if isinstance(nonce, bool) or not isinstance(nonce, int) or nonce < 0:
        raise ValueError("nonce must be a non-negative integer")
    return f"{client_seed}:{nonce}"


def round_message(base_message: str, round_: int) -> str:
    """Round 0 is the base message itself, so the first HMAC is exactly the documented one."""
    return base_message if round_ == 0 else f"{base_message}:{round_}"


def round_digest(key: str, base_message: str, round_: int) -> bytes:
    """The 32 bytes of one round: HMAC-SHA256(key, round_message(base_message, round_))."""
    message = round_message(base_message, round_).encode("utf-8")
    return hmac.digest(key.encode("utf-8"), message, "sha256")


def stream_words(key: str, base_message: str) -> Iterator[int]:
    """The endless stream of 32-bit big-endian words, eight per round, rounds 0, 1, 2, ..."""
    for round_ in itertools.count():
        yield from struct.unpack(">8I", round_digest(key, base_message, round_))


def _draw(words: Iterator[int], n: int) -> int:
    """Rejection sampling: ``word % n`` is uniform only on words below a multiple of n."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= WORD_SPACE:
        raise ValueError(f"n must be an integer between 1 and {WORD_SPACE}")
    limit = WORD_SPACE - WORD_SPACE % n
    while True:
        word = next(words)
        if word < limit:
            return word % n


def uniform_int(server_seed: str, client_seed: str, nonce: int, n: int) -> int:
    """An unbiased integer in ``[0, n)`` from the bet's stream."""
    return _draw(stream_words(server_seed, bet_message(client_seed, nonce)), n)


def _cumulative_weights(weights: Sequence[int]) -> tuple[int, ...]:
    if not weights:
        raise ValueError("weights must not be empty")
    cumulative = []
    total = 0
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, int) or weight <= 0:
            raise ValueError("every weight must be a positive integer")
        total += weight
        cumulative.append(total)
    if total > WORD_SPACE:
        raise ValueError(f"weights must sum to at most {WORD_SPACE}")
    return tuple(cumulative)


def _choose(server_seed: str, client_seed: str, nonce: int, cumulative: Sequence[int]) -> int:
    """The first index whose running total of weights exceeds a uniform draw below the total."""
    return bisect_right(cumulative, uniform_int(server_seed, client_seed, nonce, cumulative[-1]))


def weighted_choice(server_seed: str, client_seed: str, nonce: int, weights: Sequence[int]) -> int:
    """Index ``i`` chosen with probability ``weights[i] / sum(weights)``, exactly.

    Draws ``r = uniform_int(..., sum(weights))`` and returns the first index whose running
    total of weights exceeds ``r``.
    """
    return _choose(server_seed, client_seed, nonce, _cumulative_weights(weights))


# --- Spin and Win ------------------------------------------------------------------------


def multiplier_label(multiplier: Fraction) -> str:
    """The legacy text form of a multiplier: at least one decimal, then "x" ("2.0x", "1.25x")."""
    hundredths = multiplier * 100
    if hundredths.denominator != 1 or hundredths < 0:
        raise ValueError("a multiplier must be a non-negative whole number of hundredths")
    whole, cents = divmod(hundredths.numerator, 100)
    decimals = f"{cents:02d}".rstrip("0") or "0"
    return f"{whole}.{decimals}x"


@dataclass(frozen=True, slots=True)
class Segment:
    """One slice of the wheel: pays ``multiplier`` times the stake, drawn by ``weight``."""

    multiplier: Fraction
    weight: int
    # Derived once here rather than per spin: spins are the hot path.
    label: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.multiplier, Fraction):
            raise TypeError("multiplier must be a fractions.Fraction")
        if isinstance(self.weight, bool) or not isinstance(self.weight, int) or self.weight <= 0:
            raise ValueError("every weight must be a positive integer")
        object.__setattr__(self, "label", multiplier_label(self.multiplier))


@dataclass(frozen=True, slots=True)
class RewardTable:
    """A Spin and Win wheel. Construction rejects any table the house loses on by design."""

    segments: tuple[Segment, ...]
    cumulative_weights: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.segments))
        if len(self.segments) < 2:
            raise ValueError("a reward table needs at least 2 segments")
        object.__setattr__(self, "cumulative_weights", _cumulative_weights(self.weights))
        rtp = theoretical_rtp(self)
        if rtp >= 1:
            raise ValueError(
                f"the table's return to player is {rtp} ({float(rtp):.2%}); it must be below 1"
            )

    @property
    def weights(self) -> tuple[int, ...]:
        return tuple(segment.weight for segment in self.segments)

    def public(self) -> list[dict[str, str | int]]:
        """The table as it is published and configured (what :func:`parse_reward_table`
        reads back): ``[{"multiplier": "2.0", "weight": 18}, ...]``."""
        return [
            {"multiplier": segment.label.removesuffix("x"), "weight": segment.weight}
            for segment in self.segments
        ]

    @property
    def total_weight(self) -> int:
        return self.cumulative_weights[-1]


@dataclass(frozen=True, slots=True)
class SpinOutcome:
    segment_index: int
    multiplier: Fraction
    label: str


def theoretical_rtp(table: RewardTable) -> Fraction:
    """Expected payout per unit staked: sum(multiplier * weight) / sum(weight), exactly."""
    paid = sum((segment.multiplier * segment.weight for segment in table.segments), Fraction(0))
    return paid / table.total_weight


def house_edge(table: RewardTable) -> Fraction:
    return 1 - theoretical_rtp(table)


DEFAULT_SPIN_TABLE = RewardTable(
    (
        Segment(Fraction(0), 47),
        Segment(Fraction(1), 30),
        Segment(Fraction(2), 18),
        Segment(Fraction(5), 4),
        Segment(Fraction(10), 1),
    )
)
"""Return to player exactly 96/100 (house edge 4%); published in docs/fairness.md."""


def spin(server_seed: str, client_seed: str, nonce: int, table: RewardTable) -> SpinOutcome:
    index = _choose(server_seed, client_seed, nonce, table.cumulative_weights)
    segment = table.segments[index]
    return SpinOutcome(index, segment.multiplier, segment.label)


def verify_spin(
    server_seed: str, server_seed_hash: str, client_seed: str, nonce: int, table: RewardTable
) -> SpinOutcome:
    """Recompute a past spin, refusing a revealed seed that does not match its commitment."""
    _require_commitment(server_seed, server_seed_hash)
    return spin(server_seed, client_seed, nonce, table)


def payout(stake_minor: int, multiplier: Fraction) -> int:
    """Winnings in minor units, floored: rounding favours the house by under one minor unit."""
    if isinstance(stake_minor, bool) or not isinstance(stake_minor, int) or stake_minor < 0:
        raise ValueError("stake must be a non-negative integer of minor units")
    if multiplier < 0:
        raise ValueError("multiplier must be non-negative")
    return stake_minor * multiplier.numerator // multiplier.denominator


def _parse_multiplier(value: object, position: int) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"segment {position}: multiplier must be a number or a numeric string")
    # repr() of a float is its shortest exact decimal text, so 2.0 reads as "2.0", not a
    # binary approximation.
    text = repr(value) if isinstance(value, float) else str(value)
    if text.startswith("-"):
        raise ValueError(f"segment {position}: multiplier must be non-negative")
    if not _MULTIPLIER_TEXT_RE.fullmatch(text):
        raise ValueError(
            f"segment {position}: multiplier must be a plain decimal with at most 2 decimals,"
            f" got {text!r}"
        )
    return Fraction(text)


def parse_reward_table(config: str | Sequence[Mapping[str, object]]) -> RewardTable:
    """Build a table from configuration: a JSON text or a list of mappings such as
    ``[{"multiplier": "2.0", "weight": 15}, ...]``. Raises ValueError saying what is wrong.
    """
    if isinstance(config, str):
        try:
            # Floats keep their literal text so "2.10" is read as written.
            parsed: object = json.loads(config, parse_float=str)
        except json.JSONDecodeError as exc:
            raise ValueError(f"reward table is not valid JSON: {exc}") from exc
    else:
        parsed = config
    if not isinstance(parsed, Sequence) or isinstance(parsed, str | bytes):
        raise ValueError("reward table must be a list of segments")
    segments = []
    for position, item in enumerate(parsed):
        if not isinstance(item, Mapping) or set(item) != {"multiplier", "weight"}:
            raise ValueError(
                f"segment {position}: must be an object with exactly 'multiplier' and 'weight'"
            )
        weight = item["weight"]
        if isinstance(weight, bool) or not isinstance(weight, int) or weight <= 0:
            raise ValueError(f"segment {position}: weight must be a positive integer")
        segments.append(Segment(_parse_multiplier(item["multiplier"], position), weight))
    return RewardTable(tuple(segments))


# --- Russian Roulette --------------------------------------------------------------------


def bullet_chamber(room_seed: str) -> int:
    """The loaded chamber, 1 to 6, drawn from the room seed's stream over "chamber"."""
    return 1 + _draw(stream_words(room_seed, ROULETTE_MESSAGE), CHAMBERS)


def elimination_probabilities(num_players: int, *, empty_pulls: int = 0) -> list[Fraction]:
    """Exact chance that each seat is the one eliminated.

    Seats pull in order from chamber 1 (seat ``s`` pulls chambers ``s + 1``, ``s + 1 + n``,
    ...), never re-spinning, so the bullet in chamber ``c`` hits seat ``(c - 1) % n``. After
    ``empty_pulls`` empty chambers the bullet is uniform over the rest, which is what odds
    offered mid-game must use.
    """
    if isinstance(num_players, bool) or not isinstance(num_players, int):
        raise ValueError("number of players must be an integer")
    if not 2 <= num_players <= CHAMBERS:
        raise ValueError(f"number of players must be between 2 and {CHAMBERS}")
    if isinstance(empty_pulls, bool) or not isinstance(empty_pulls, int):
        raise ValueError("empty pulls must be an integer")
    if not 0 <= empty_pulls < CHAMBERS:
        raise ValueError(f"empty pulls must be between 0 and {CHAMBERS - 1}")
    remaining = range(empty_pulls + 1, CHAMBERS + 1)
    counts = [0] * num_players
    for chamber in remaining:
        counts[(chamber - 1) % num_players] += 1
    return [Fraction(count, len(remaining)) for count in counts]


def side_bet_multiplier(probability: Fraction, house_edge: Fraction) -> Fraction:
    """Fixed odds for an event of exact ``probability``: ``(1 - house_edge) / probability``,
    so a bet's expected return is exactly ``1 - house_edge``.
    """
    if not 0 < probability <= 1:
        raise ValueError("probability must be above 0 and at most 1")
    if not 0 <= house_edge < 1:
        raise ValueError("house edge must be at least 0 and below 1")
    return (1 - house_edge) / probability


def _seat_elimination(num_players: int, seat: int, empty_pulls: int) -> Fraction:
    probabilities = elimination_probabilities(num_players, empty_pulls=empty_pulls)
    if isinstance(seat, bool) or not isinstance(seat, int) or not 0 <= seat < num_players:
        raise ValueError(f"seat must be between 0 and {num_players - 1}")
    return probabilities[seat]


def elimination_multiplier(
    num_players: int, seat: int, house_edge: Fraction, *, empty_pulls: int = 0
) -> Fraction:
    """Odds on ``seat`` being the one eliminated; settle with ``payout`` (floored)."""
    return side_bet_multiplier(_seat_elimination(num_players, seat, empty_pulls), house_edge)


def survival_multiplier(
    num_players: int, seat: int, house_edge: Fraction, *, empty_pulls: int = 0
) -> Fraction:
    """Odds on ``seat`` surviving the game; settle with ``payout`` (floored)."""
    return side_bet_multiplier(1 - _seat_elimination(num_players, seat, empty_pulls), house_edge)
