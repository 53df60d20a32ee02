"""What the game routes refuse (the catalog, Spin and Win, fairness), by name."""

from __future__ import annotations

from gamehub.errors import BadRequest, Conflict, NotFound, ValidationFailed


class GameNotFound(NotFound):
    """No game of the catalog has this slug."""


class GameClosed(Conflict):
    """The game is closed for now: no stakes are taken."""


class StakeOutOfRange(ValidationFailed):
    """The stake is below the game's minimum or above its maximum, given in `minimum` and
    `maximum`."""

    minimum: float
    maximum: float

    def __init__(self, detail: str, *, minimum: float, maximum: float) -> None:
        self.minimum = minimum
        self.maximum = maximum
        super().__init__(detail)


class RoomIdRequired(BadRequest):
    """The body names no room: send `roulette_id` (or the seed's `game_id`)."""

    default_detail = "roulette_id is required"


class BetNotFound(NotFound):
    """The caller has no bet with this id."""

    default_detail = "No such bet"


class SeedStillSecret(Conflict):
    """The bet's server seed is not revealed yet: rotate it (POST /fairness/rotate) to
    verify the bets made with it."""

    default_detail = "The server seed is still secret: rotate it (POST /fairness/rotate) first"


class RoomSeedNotRevealed(Conflict):
    """A roulette room's seed is revealed when its game is over."""

    default_detail = "The room's seed is revealed when its game is over"


class SeedHashMismatch(Conflict):
    """The revealed seed does not hash to the commitment published for the bet: the
    bet cannot be verified, and that is ours to explain."""

    default_detail = "The room's seed does not match the hash published for this bet"


class RewardTableRefused(ValidationFailed):
    """The reward table's return to player (`rtp`) is outside the bounds the install
    allows (`minimum` to `maximum`, GAMEHUB_SPIN_RTP_MIN_BPS and GAMEHUB_SPIN_RTP_MAX_BPS)."""

    rtp: float
    minimum: float
    maximum: float

    def __init__(self, detail: str, *, rtp: float, minimum: float, maximum: float) -> None:
        self.rtp = rtp
        self.minimum = minimum
        self.maximum = maximum
        super().__init__(detail)


class RewardTableNotFound(NotFound):
    """The game has no reward table of this version (or no reward table at all: only
    Spin and Win has one)."""

    default_detail = "No such reward table"
