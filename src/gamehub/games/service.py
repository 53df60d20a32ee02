"""The games' rules as their routes and commands reach them: the catalog, Spin and Win,
rooms as anyone may watch them, and provable fairness. Roulette's own play is
:class:`gamehub.games.roulette.service.Roulette`; the spin itself is :mod:`gamehub.games.spin`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.pagination import Window, next_cursor
from gamehub.core.runtime import Runtime
from gamehub.games import config
from gamehub.games.catalog import SPIN_AND_WIN, return_to_player
from gamehub.games.errors import BetNotFound, GameNotFound
from gamehub.games.repository import GameRepository
from gamehub.games.roulette.errors import RoomNotFound
from gamehub.games.schemas import VerifyOut
from gamehub.games.seeds import Seeds
from gamehub.games.spin import SpinPlayed, play_spin
from gamehub.games.verify import verify_bet
from gamehub.models import Bet, FairnessSeed, Game, RewardTable, RouletteRoom, RouletteSeat
from gamehub.models.games import BetKind, RoomStatus


@dataclass(frozen=True, slots=True)
class Listed:
    """A game as the catalog publishes it."""

    game: Game
    rtp: Fraction
    # Spin and Win's wheel in force, in its public form, and its version; None for
    # other games.
    reward_table: list[dict[str, str | int]] | None
    reward_table_version: int | None


@dataclass(frozen=True, slots=True)
class RoomView:
    """A roulette room as a watcher sees it."""

    room: RouletteRoom
    seats: Sequence[RouletteSeat]
    usernames: dict[int, str]
    stakes: Sequence[Bet]
    side_bets: Sequence[Bet]

    @property
    def next_player(self) -> int | None:
        """Whose turn it is, while the game is being played."""
        if self.room.status != RoomStatus.PLAYING.value:
            return None
        return next((s.user_id for s in self.seats if s.seat == self.room.turn_seat), None)

    @property
    def pot(self) -> int:
        # What is in play: the excise withheld from each stake is not in the pot.
        return sum(b.amount - b.stake_tax for b in self.stakes if b.status != "refunded")


@dataclass(frozen=True, slots=True)
class FairnessState:
    current: FairnessSeed
    # The last seed rotated away (revealed), so that its bets can be checked.
    previous: FairnessSeed | None


class GameService:
    def __init__(self, session: AsyncSession, runtime: Runtime) -> None:
        self.session = session
        self.runtime = runtime
        self.repo = GameRepository(session)

    # The catalog

    async def catalog(self) -> list[Listed]:
        return [await self._listed(game) for game in await self.repo.games()]

    async def game(self, slug: str) -> Listed:
        game = await self.repo.game(slug)
        if game is None:
            raise GameNotFound(f"No game {slug}")
        return await self._listed(game)

    async def _listed(self, game: Game) -> Listed:
        if game.slug != SPIN_AND_WIN:
            return Listed(game, return_to_player(game, None), None, None)
        version, table = await config.table_in_force(self.session, self.runtime.db, game)
        return Listed(game, return_to_player(game, table), table.public(), version)

    async def reward_table(self, slug: str, version: int) -> RewardTable:
        """One version of a game's reward table, as every bet played with it names it."""
        return await config.GameSettings(
            self.session, self.runtime.db, self.runtime.settings
        ).reward_table(slug, version)

    # Play

    async def spin(self, user_id: int, stake: int) -> SpinPlayed:
        return await play_spin(self.session, self.runtime, user_id, stake)

    async def room(self, room_id: int) -> RoomView:
        room = await self.repo.room(room_id)
        if room is None:
            raise RoomNotFound()
        seats = await self.repo.seats(room.id)
        bets = await self.repo.room_bets(room.id)
        return RoomView(
            room=room,
            seats=seats,
            usernames=await self.repo.usernames([s.user_id for s in seats]),
            stakes=[b for b in bets if b.kind == BetKind.ROULETTE_STAKE.value],
            side_bets=[b for b in bets if b.kind != BetKind.ROULETTE_STAKE.value],
        )

    async def lobby(
        self, statuses: Sequence[str], page: Window
    ) -> tuple[list[RoomView], str | None]:
        """Rooms a player can join or watch, newest first, with the next page's cursor."""
        rooms = await self.repo.open_rooms(statuses, page.limit, page.after)
        last = rooms[page.limit - 1].id if len(rooms) > page.limit else None
        cursor = next_cursor(len(rooms), page.limit, last)
        rooms = rooms[: page.limit]
        ids = [room.id for room in rooms]
        seats = await self.repo.seats_of(ids)
        bets = await self.repo.bets_of(ids)
        names = await self.repo.usernames([s.user_id for room in seats.values() for s in room])
        views = [
            RoomView(
                room=room,
                seats=seats[room.id],
                usernames=names,
                stakes=[b for b in bets[room.id] if b.kind == BetKind.ROULETTE_STAKE.value],
                side_bets=[b for b in bets[room.id] if b.kind != BetKind.ROULETTE_STAKE.value],
            )
            for room in rooms
        ]
        return views, cursor

    # Fairness

    async def fairness(self, user_id: int) -> FairnessState:
        current = await Seeds(self.session).active(user_id)
        return FairnessState(current, await self.repo.latest_revealed_seed(user_id))

    async def set_client_seed(self, user_id: int, client_seed: str) -> FairnessSeed:
        return await Seeds(self.session).set_client_seed(user_id, client_seed)

    async def rotate_seed(self, user_id: int) -> tuple[FairnessSeed, FairnessSeed]:
        """Reveal the player's server seed and commit a new one: (revealed, new)."""
        return await Seeds(self.session).rotate(user_id)

    async def verify(self, user_id: int, bet_id: int) -> VerifyOut:
        bet = await self.repo.users_bet(user_id, bet_id)
        if bet is None:
            raise BetNotFound()
        return await verify_bet(self.session, self.runtime.db, bet)
