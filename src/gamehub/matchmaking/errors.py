"""What the game-server routes (/update, /terminate, /sessions) refuse, by name."""

from __future__ import annotations

from gamehub.errors import (
    Conflict,
    Forbidden,
    GamehubError,
    NotFound,
    Unauthorized,
    ValidationFailed,
)

# Service keys


class InvalidServiceKey(Unauthorized):
    """The X-Service-Key is not one of ours, or was revoked."""

    default_detail = "Invalid or revoked service key"


class ServiceKeyRequired(Unauthorized):
    """The route is for game servers: it needs an X-Service-Key."""

    default_detail = "A service key is required (X-Service-Key)"


class ScopeMissing(Forbidden):
    """The service key lacks the `scope` this route needs."""

    scope: str

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"This service key lacks the {scope} scope")


class OperatorsOnly(Forbidden):
    """The route is for services and administrators."""

    default_detail = "Only operators and services may list sessions"


# Registering games


class TooManyPlayers(ValidationFailed):
    """More players are listed than the game's `num_players` seats."""


class UnknownPlayers(ValidationFailed):
    """Some listed players are not users of ours; `missing` names them."""

    missing: list[str]

    def __init__(self, missing: list[str]) -> None:
        self.missing = list(missing)
        super().__init__(f"players: no such users: {', '.join(missing)}")


class ReservedGameName(ValidationFailed):
    """A game server naming one of our own games, whose boards only our games write."""


class GameEnded(Conflict):
    """The game was terminated already: it takes no more players."""


class GameBeingRegistered(Conflict):
    """Another request is registering the same game at this moment; try again."""


# Terminating games


class GameNotRegistered(NotFound):
    """/terminate for a game id that /update never registered."""


class GameAlreadyTerminated(Conflict):
    """The game was terminated before with other results; the same results replay."""


class NotAPlayer(ValidationFailed):
    """A result names a player whom /update did not list for that game."""


class EarningsContradictOutcome(ValidationFailed):
    """A loss that earns, a win that costs, a draw that moves money."""


class SettlementForbidden(Forbidden):
    """settle_wallets from a key whose payout limit is 0."""


class PayoutLimitExceeded(Forbidden):
    """A game paying its winners more than the key's limit per game."""


# What any route that takes a service key can answer.
SERVICE_KEY: tuple[type[GamehubError], ...] = (ServiceKeyRequired, InvalidServiceKey, ScopeMissing)
