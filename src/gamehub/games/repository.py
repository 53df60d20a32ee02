"""All SQL of the games domain."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    Update,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from gamehub.models import (
    Account,
    Bet,
    FairnessSeed,
    Game,
    GameSession,
    RewardTable,
    RouletteRoom,
    RouletteSeat,
    User,
)
from gamehub.models.games import (
    BetKind,
    BetStatus,
    RoomStatus,
    RouletteLobby,
    SeatStatus,
    SessionStatus,
)
from gamehub.wallet.ledger import wallet_code

# The tables under the models, for Core statements that skip the unit of work.
_BETS = cast(Table, Bet.__table__)
_ROOMS = cast(Table, RouletteRoom.__table__)
_SEATS = cast(Table, RouletteSeat.__table__)
_SESSIONS = cast(Table, GameSession.__table__)


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

    async def lock_game(self, slug: str) -> Game | None:
        """The game row, locked for a change of its settings. On PostgreSQL a no-key
        lock: the key share every bet's foreign key takes on it does not wait for it."""
        query = (
            select(Game)
            .where(Game.slug == slug)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    # Reward tables

    async def reward_table(self, game_id: int, version: int) -> RewardTable | None:
        query = select(RewardTable).where(
            RewardTable.game_id == game_id, RewardTable.version == version
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def reward_tables(self, game_id: int) -> Sequence[RewardTable]:
        query = (
            select(RewardTable)
            .where(RewardTable.game_id == game_id)
            .order_by(RewardTable.version.desc())
        )
        return (await self.session.execute(query)).scalars().all()

    async def latest_reward_table_version(self, game_id: int) -> int:
        found = await self.session.scalar(
            select(func.max(RewardTable.version)).where(RewardTable.game_id == game_id)
        )
        return int(found or 0)

    async def add_reward_table(self, row: RewardTable) -> RewardTable:
        self.session.add(row)
        await self.session.flush()
        return row

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

    async def room_with_seats(self, room_id: int) -> tuple[RouletteRoom | None, list[RouletteSeat]]:
        """The room, locked, then its seats in seat order. Seats change only under their
        room's lock, so once it is held they are current.

        Two statements, not one: a statement that waits for the room's lock sees the
        room's latest version (PostgreSQL checks the locked row again) but every other
        row as it was when the statement began: a seat that the lock's holder added (the
        join that filled the room) would be missed, and one it removed (a leave) seen."""
        query = (
            select(RouletteRoom)
            .where(RouletteRoom.id == room_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        room = (await self.session.execute(query)).scalar_one_or_none()
        if room is None:
            return None, []
        return room, list(await self.seats(room_id))

    async def take_turn(
        self, room_id: int, user_id: int, deadline: datetime
    ) -> tuple[RouletteRoom, list[RouletteSeat]] | None:
        """PostgreSQL only: if it is ``user_id``'s turn in this room, pull, in one
        statement that locks the room, counts the chamber, passes the turn on (every
        seat of a game in progress is taken, so the next seat is the next player) and
        returns the room with its seats. None when it is not their turn (or no game is in
        progress): the caller then looks, under the lock, for why.

        The WHERE is checked again on the room's latest version if it had to wait for
        the lock; the seats are read from the statement's start, so a game that started
        in the meantime (a join filling the room) shows fewer seats than it has: then
        they are read again. The room carries its own rake, for the hit that settles it."""
        params = {"room_id": room_id, "user_id": user_id, "deadline": deadline}
        rows = (await self.session.execute(_take_turn(), params)).all()
        if not rows:
            return None
        room: RouletteRoom = rows[0][0]
        seats = [seat for _, seat in rows]
        if len(seats) != room.max_players:
            seats = list(await self.seats(room_id))
        return room, seats

    async def update_room(self, room: RouletteRoom, **values: Any) -> None:
        """Write these columns of the (locked) room and keep the loaded object in step,
        without a unit-of-work flush."""
        await self.session.execute(update(_ROOMS).where(_ROOMS.c.id == room.id).values(**values))
        for name, value in values.items():
            set_committed_value(room, name, value)

    async def seat_player(
        self,
        room: RouletteRoom,
        user_id: int,
        seat: int,
        game_id: int,
        start: dict[str, Any] | None = None,
        stake_tax: int = 0,
    ) -> int:
        """Seat ``user_id`` at ``seat``, open their game session, record their stake's
        bet (``stake_tax`` withheld from it) and, given ``start``, write those columns of
        the room (the game starts); returns the seat's id. PostgreSQL does it all in one
        statement."""
        now = datetime.now(UTC)
        seat_values = {
            "room_id": room.id,
            "user_id": user_id,
            "seat": seat,
            "status": SeatStatus.SEATED.value,
            "joined_at": now,
        }
        session_values = {
            "user_id": user_id,
            "game_id": game_id,
            "room_id": room.id,
            "status": SessionStatus.ACTIVE.value,
            "started_at": now,
        }
        bet_values: dict[str, Any] = {
            "user_id": user_id,
            "game_id": game_id,
            "kind": BetKind.ROULETTE_STAKE.value,
            "status": BetStatus.OPEN.value,
            "amount": room.stake,
            "win_amount": 0,
            "stake_tax": stake_tax,
            "server_seed_hash": room.seed_hash,
            "room_id": room.id,
            "details": "{}",
            "created_at": now,
        }
        if self.session.get_bind().dialect.name == "postgresql":
            new_seat = insert(_SEATS).values(seat_values).returning(_SEATS.c.id).cte("new_seat")
            new_session = (
                insert(_SESSIONS)
                .values(session_values)
                .returning(_SESSIONS.c.id)
                .cte("new_session")
            )
            row = select(
                new_session.c.id,
                *(literal(value, _BETS.c[name].type) for name, value in bet_values.items()),
            )
            stake_bet = (
                insert(_BETS)
                .from_select(["session_id", *bet_values], row, include_defaults=False)
                .returning(select(new_seat.c.id).scalar_subquery())
            )
            if start:
                started = update(_ROOMS).where(_ROOMS.c.id == room.id).values(**start)
                stake_bet = stake_bet.add_cte(started.returning(_ROOMS.c.id).cte("started"))
            seat_id = int((await self.session.execute(stake_bet)).scalar_one())
            self._started(room, start)
            return seat_id
        seat_id = await self.session.scalar(
            insert(_SEATS).values(seat_values).returning(_SEATS.c.id)
        )
        session_id = await self.session.scalar(
            insert(_SESSIONS).values(session_values).returning(_SESSIONS.c.id)
        )
        await self.session.execute(insert(_BETS).values(session_id=session_id, **bet_values))
        if start:
            await self.session.execute(update(_ROOMS).where(_ROOMS.c.id == room.id).values(**start))
            self._started(room, start)
        return int(seat_id)

    @staticmethod
    def _started(room: RouletteRoom, start: dict[str, Any] | None) -> None:
        for name, value in (start or {}).items():
            set_committed_value(room, name, value)

    async def add_side_bet(self, **values: Any) -> int:
        now = datetime.now(UTC)
        bet_id = await self.session.scalar(
            insert(_BETS)
            .values(
                status=BetStatus.OPEN.value, win_amount=0, details="{}", created_at=now, **values
            )
            .returning(_BETS.c.id)
        )
        return int(bet_id)

    async def write_bet_outcomes(self, bets: Sequence[Bet]) -> None:
        """Store the settled state of ``bets`` (as marked on the objects) in one statement."""
        if bets:
            await self.session.execute(_bet_outcomes(bets))

    async def finish(
        self, room: RouletteRoom, bets: Sequence[Bet], eliminated: int, **values: Any
    ) -> None:
        """Write a game's end: its bets (as marked), every seated player survived but the
        one ``eliminated``, the sessions ended, the room's ``values``. One statement on
        PostgreSQL, whose data-modifying WITH runs each part once; one per table
        elsewhere."""
        seats = (
            update(_SEATS)
            .where(_SEATS.c.room_id == room.id, _SEATS.c.status == SeatStatus.SEATED.value)
            .values(
                status=case(
                    (_SEATS.c.user_id == eliminated, SeatStatus.ELIMINATED.value),
                    else_=SeatStatus.SURVIVED.value,
                )
            )
        )
        sessions = _end_sessions(room.id)
        rooms = update(_ROOMS).where(_ROOMS.c.id == room.id).values(**values)
        if self.session.get_bind().dialect.name == "postgresql":
            parts = [seats.returning(_SEATS.c.id).cte("settled_seats")]
            parts.append(sessions.returning(_SESSIONS.c.id).cte("ended_sessions"))
            if bets:
                parts.append(_bet_outcomes(bets).returning(_BETS.c.id).cte("settled_bets"))
            await self.session.execute(rooms.add_cte(*parts))
        else:
            await self.write_bet_outcomes(bets)
            for query in (seats, sessions, rooms):
                await self.session.execute(query)
        for name, value in values.items():
            set_committed_value(room, name, value)

    async def wallets(self, user_ids: Collection[int], currency: str) -> dict[int, Account]:
        """The users' wallets by user id; several are locked, in ascending account id.

        PostgreSQL locks rows in the order its ``ORDER BY`` returns them, so one statement
        does it; MariaDB locks them as its index scan meets them (in code order), so
        there each is locked on its own, in id order, once all have been read."""
        if not user_ids:
            return {}
        query = (
            select(Account)
            .where(Account.code.in_([wallet_code(u, currency) for u in user_ids]))
            .order_by(Account.id)
        )
        several = len(user_ids) > 1
        locks_in_order = self.session.get_bind().dialect.name == "postgresql"
        if several and locks_in_order:
            query = query.with_for_update().execution_options(populate_existing=True)
        found = list((await self.session.execute(query)).scalars())
        if several and not locks_in_order:
            for account in found:
                await self.session.execute(
                    select(Account.id).where(Account.id == account.id).with_for_update()
                )
        return {a.user_id: a for a in found if a.user_id is not None}

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

    async def open_rooms(
        self, statuses: Sequence[str], limit: int, before: int | None
    ) -> list[RouletteRoom]:
        """Rooms in ``statuses``, newest first, ``limit + 1`` of them so the caller knows
        whether another page follows; ``before`` is the previous page's last room id."""
        query = select(RouletteRoom).where(RouletteRoom.status.in_(statuses))
        if before is not None:
            query = query.where(RouletteRoom.id < before)
        query = query.order_by(RouletteRoom.id.desc()).limit(limit + 1)
        return list((await self.session.execute(query)).scalars())

    async def seats_of(self, room_ids: Sequence[int]) -> dict[int, list[RouletteSeat]]:
        """Each room's seats in seat order, for many rooms in one statement."""
        found: dict[int, list[RouletteSeat]] = {room_id: [] for room_id in room_ids}
        if room_ids:
            query = (
                select(RouletteSeat)
                .where(RouletteSeat.room_id.in_(room_ids))
                .order_by(RouletteSeat.room_id, RouletteSeat.seat)
            )
            for seat in (await self.session.execute(query)).scalars():
                found[seat.room_id].append(seat)
        return found

    async def bets_of(self, room_ids: Sequence[int]) -> dict[int, list[Bet]]:
        """Each room's stakes and side bets, for many rooms in one statement."""
        found: dict[int, list[Bet]] = {room_id: [] for room_id in room_ids}
        if room_ids:
            query = select(Bet).where(Bet.room_id.in_(room_ids)).order_by(Bet.id)
            for bet in (await self.session.execute(query)).scalars():
                found[cast(int, bet.room_id)].append(bet)
        return found

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
        await self.session.execute(_end_sessions(room_id, user_id))


@cache
def _take_turn() -> Select[RouletteRoom, RouletteSeat]:
    """:meth:`GameRepository.take_turn`'s statement, built once: the pull is the most
    frequent request, and building this one costs more than running it."""
    my_seat = (
        select(_SEATS.c.seat)
        .where(
            _SEATS.c.room_id == bindparam("room_id"),
            _SEATS.c.user_id == bindparam("user_id"),
            _SEATS.c.status == SeatStatus.SEATED.value,
        )
        .scalar_subquery()
    )
    taken = (
        update(_ROOMS)
        .where(
            _ROOMS.c.id == bindparam("room_id"),
            _ROOMS.c.status == RoomStatus.PLAYING.value,
            _ROOMS.c.turn_seat == my_seat,
        )
        .values(
            chambers_pulled=_ROOMS.c.chambers_pulled + 1,
            turn_seat=(_ROOMS.c.turn_seat + 1) % _ROOMS.c.max_players,
            turn_deadline=bindparam("deadline", type_=_ROOMS.c.turn_deadline.type),
        )
        .returning(*_ROOMS.c)
        .cte("taken")
    )
    room_taken = aliased(RouletteRoom, taken)
    return (
        select(room_taken, RouletteSeat)
        .join(RouletteSeat, RouletteSeat.room_id == room_taken.id)
        .order_by(RouletteSeat.seat)
        .execution_options(populate_existing=True)
    )


def _end_sessions(room_id: int, user_id: int | None = None) -> Update:
    query = (
        update(_SESSIONS)
        .where(_SESSIONS.c.room_id == room_id, _SESSIONS.c.status == SessionStatus.ACTIVE.value)
        .values(status=SessionStatus.ENDED.value, ended_at=datetime.now(UTC))
    )
    if user_id is not None:
        query = query.where(_SESSIONS.c.user_id == user_id)
    return query


def _bet_outcomes(bets: Sequence[Bet]) -> Update:
    """One UPDATE setting each bet's own outcome (``CASE WHEN id = ...``: compared with
    the column, an id is bound as the column's BIGINT)."""

    def each(name: str) -> Any:
        column = _BETS.c[name]
        return case(*((_BETS.c.id == b.id, literal(getattr(b, name), column.type)) for b in bets))

    return (
        update(_BETS)
        .where(_BETS.c.id.in_([b.id for b in bets]))
        .values(
            status=each("status"),
            win_amount=each("win_amount"),
            winnings_tax=each("winnings_tax"),
            result=each("result"),
            settled_at=each("settled_at"),
        )
    )
