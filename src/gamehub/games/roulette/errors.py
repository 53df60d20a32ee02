"""What Russian Roulette's rooms refuse, by name."""

from __future__ import annotations

from gamehub.errors import Conflict, Forbidden, NotFound, ValidationFailed


class RoomNotFound(NotFound):
    """No roulette room has this id."""

    default_detail = "No such roulette room"


class RoomSizeNotAllowed(ValidationFailed):
    """Rooms seat only the numbers of players in `allowed`, so that every seat has the
    same chance."""

    allowed: list[int]

    def __init__(self, allowed: list[int]) -> None:
        self.allowed = list(allowed)
        super().__init__(
            "max_players: rooms seat "
            + ", ".join(str(n) for n in allowed)
            + " players, so that every seat has the same chance"
        )


class NotPlayedInRooms(NotFound):
    """The game the join names is not Russian Roulette, the one game played in rooms."""

    default_detail = "Only Russian Roulette is played in rooms"


class SeatTaken(Conflict):
    """Another player took the seat at the same moment; joining again finds another."""

    default_detail = "That seat was just taken; join again"


class NotInRoom(NotFound):
    """The caller neither plays nor bets in this room."""

    default_detail = "You are not playing or betting in this room"


class NotARoomPlayer(Forbidden):
    """Only the room's players pull its trigger."""

    default_detail = "Only this room's players pull the trigger"


class GameNotInProgress(Conflict):
    """The room's game is not being played: it waits for players, or is over;
    `room_status` says which."""

    room_status: str

    def __init__(self, room_status: str) -> None:
        self.room_status = room_status
        super().__init__(f"The game is {room_status}, not in progress")


class NotYourTurn(Conflict):
    """Another player's turn: only the player whose turn it is pulls the trigger."""

    default_detail = "It is not your turn"


class BettingClosed(Conflict):
    """Side bets on a room close at its first pull (and when it is over)."""

    default_detail = "Betting on this room is closed: it closes at the first pull"


class TargetNotInRoom(ValidationFailed):
    """The side bet's `player_id` is not seated in this room."""

    default_detail = "player_id: that player is not in this room"


class SideBetNotFound(NotFound):
    """The caller has no side bet with this id."""

    default_detail = "No such side bet of yours"


class BetNotOpen(Conflict):
    """The side bet is settled or refunded already; `bet_status` says which."""

    bet_status: str

    def __init__(self, bet_status: str) -> None:
        self.bet_status = bet_status
        super().__init__(f"That bet is already {bet_status}")


class RoomNotWaiting(Conflict):
    """Side bets come back only while the room still waits for players; `room_status` is
    where it is now."""

    room_status: str

    def __init__(self, room_status: str) -> None:
        self.room_status = room_status
        super().__init__(f"The room is {room_status}: side bets are taken back only while it waits")
