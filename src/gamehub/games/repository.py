"""All SQL of the games domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.models import Bet, FairnessSeed, Game, GameSession, RouletteRoom, RouletteSeat, User
from gamehub.models.games import (
    BetKind,
    BetStatus,
    RoomStatus,
    RouletteLobby,
    SeatStatus,
    SessionStatus,
)


class GameRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def games(self) -> Sequence[Game]:
        return (await self.session.execute(select(Game).order_by(Game.id))).scalars().all()

    async def game(self, slug: str, *, for_update: bool = False) -> Game | None:
        query = select(Game).where(Game.slug == slug)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def game_by_id(self, game_id: int) -> Game | None:
        return await self.session.get(Game, game_id)

    # Fairness seeds

    async def active_seed(self, user_id: int, *, for_update: bool = False) -> FairnessSeed | None:
        query = (
            select(FairnessSeed)
            .where(FairnessSeed.user_id == user_id, FairnessSeed.revealed_at.is_(None))
            .order_by(FairnessSeed.id.desc())
            .limit(1)
        )
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def latest_revealed_seed(self, user_id: int) -> FairnessSeed | None:
        query = (
            select(FairnessSeed)
            .where(FairnessSeed.user_id == user_id, FairnessSeed.revealed_at.is_not(None))
            .order_by(FairnessSeed.id.desc())
            .limit(1)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def lock_user(self, user_id: int) -> None:
        await self.session.execute(select(User.id).where(User.id == user_id).with_for_update())

    # Bets

    async def users_bet(self, user_id: int, bet_id: int) -> Bet | None:
        return (
            await self.session.execute(select(Bet).where(Bet.id == bet_id, Bet.user_id == user_id))
        ).scalar_one_or_none()

    async def open_bets(self, room_id: int) -> Sequence[Bet]:
        query = select(Bet).where(Bet.room_id == room_id, Bet.status == BetStatus.OPEN.value)
        return (await self.session.execute(query.order_by(Bet.id))).scalars().all()

    async def bet(self, bet_id: int) -> Bet | None:
        """The bet as committed now (read again under its room's lock)."""
        query = select(Bet).where(Bet.id == bet_id).execution_options(populate_existing=True)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def users_side_bet(self, user_id: int, bet_id: int) -> Bet | None:
        query = select(Bet).where(
            Bet.id == bet_id,
            Bet.user_id == user_id,
            Bet.room_id.is_not(None),
            Bet.kind != BetKind.ROULETTE_STAKE.value,
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def room_bets(self, room_id: int) -> Sequence[Bet]:
        query = select(Bet).where(Bet.room_id == room_id).order_by(Bet.id)
        return (await self.session.execute(query)).scalars().all()

    # Roulette rooms

    async def room(self, room_id: int, *, for_update: bool = False) -> RouletteRoom | None:
        query = select(RouletteRoom).where(RouletteRoom.id == room_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def lock_lobby(self, currency: str, stake: int, max_players: int) -> None:
        """Lock the lobby row of this kind of room, opening it on first use."""
        query = (
            select(RouletteLobby.id)
            .where(
                RouletteLobby.currency == currency,
                RouletteLobby.stake == stake,
                RouletteLobby.max_players == max_players,
            )
            .with_for_update()
        )
        if (await self.session.execute(query)).first() is not None:
            return
        try:
            async with self.session.begin_nested():
                self.session.add(
                    RouletteLobby(currency=currency, stake=stake, max_players=max_players)
                )
        except IntegrityError:
            # Another join opened it first and has committed: take its lock in turn.
            await self.session.execute(query)

    async def waiting_room_for(
        self, user_id: int, stake: int, max_players: int, currency: str, opened_after: datetime
    ) -> RouletteRoom | None:
        """The oldest open room of this stake and size that ``user_id`` is not in and that
        opened after ``opened_after`` (an older one is about to be cancelled)."""
        already_seated = (
            select(RouletteSeat.id)
            .where(RouletteSeat.room_id == RouletteRoom.id, RouletteSeat.user_id == user_id)
            .exists()
        )
        query = (
            select(RouletteRoom)
            .where(
                RouletteRoom.status == RoomStatus.WAITING.value,
                RouletteRoom.stake == stake,
                RouletteRoom.max_players == max_players,
                RouletteRoom.currency == currency,
                RouletteRoom.created_at > opened_after,
                ~already_seated,
            )
            .order_by(RouletteRoom.id)
            .limit(1)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def seats(self, room_id: int) -> Sequence[RouletteSeat]:
        query = select(RouletteSeat).where(RouletteSeat.room_id == room_id)
        return (
            (
                await self.session.execute(
                    query.order_by(RouletteSeat.seat).execution_options(populate_existing=True)
                )
            )
            .scalars()
            .all()
        )

    async def seated(self, room_id: int) -> Sequence[RouletteSeat]:
        return [s for s in await self.seats(room_id) if s.status == SeatStatus.SEATED.value]

    async def remove_seat(self, seat_id: int) -> None:
        await self.session.execute(delete(RouletteSeat).where(RouletteSeat.id == seat_id))

    async def usernames(self, user_ids: Sequence[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        rows = await self.session.execute(
            select(User.id, User.username).where(User.id.in_(user_ids))
        )
        return {user_id: name for user_id, name in rows}

    async def rooms_past_deadline(self, now: datetime) -> list[int]:
        query = (
            select(RouletteRoom.id)
            .where(
                RouletteRoom.status == RoomStatus.PLAYING.value,
                RouletteRoom.turn_deadline <= now,
            )
            .order_by(RouletteRoom.id)
            .limit(100)
        )
        return list((await self.session.execute(query)).scalars())

    async def rooms_waiting_since(self, opened_before: datetime) -> list[int]:
        """Rooms still waiting for players that opened at or before ``opened_before``."""
        query = (
            select(RouletteRoom.id)
            .where(
                RouletteRoom.status == RoomStatus.WAITING.value,
                RouletteRoom.created_at <= opened_before,
            )
            .order_by(RouletteRoom.id)
            .limit(100)
        )
        return list((await self.session.execute(query)).scalars())

    async def mark_seats_left(self, room_id: int) -> None:
        query = (
            update(RouletteSeat)
            .where(RouletteSeat.room_id == room_id, RouletteSeat.status == SeatStatus.SEATED.value)
            .values(status=SeatStatus.LEFT.value)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(query)

    async def end_sessions(self, room_id: int, user_id: int | None = None) -> None:
        """End the room's active game sessions (one player's, if named)."""
        query = (
            update(GameSession)
            .where(
                GameSession.room_id == room_id,
                GameSession.status == SessionStatus.ACTIVE.value,
            )
            .values(status=SessionStatus.ENDED.value, ended_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
        if user_id is not None:
            query = query.where(GameSession.user_id == user_id)
        await self.session.execute(query)
