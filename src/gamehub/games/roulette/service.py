"""Russian Roulette rooms: join, side bets, turns, time-outs, leaving, expiry.

Every change to a room happens under its row lock, so two requests (or two workers'
jobs) never both act on one state. Joins also hold their lobby's row lock: rooms of a
stake and size fill one at a time and never overfill (the seats' unique keys would
refuse it anyway).

Lock order. Every unit of work here (join, side bet, its cancellation, pull, leave,
settlement, the turn clock, expiry) takes its locks in this order, on every backend,
so none of them can wait for another in a cycle:

1. the lobby row of the room's kind (currency, stake, size): joins only;
2. the room row, with its seats read in the same statement (``SELECT ... FOR UPDATE``,
   then a fresh look at its state; on PostgreSQL a pull locks it by its guarded
   ``UPDATE``);
3. the room's seats, bets and game sessions: written only under the room's lock, so
   nobody ever waits for them (a join inserts its seat, session and bet before moving
   the stake);
4. wallets: a unit that moves money for several users locks all their wallets first,
   in ascending account id (``settle.lock_wallets``); one wallet is locked by its
   posting;
5. stats rows in user-id order, then ``player_results`` (``stats.hooks``).

The games row and users rows are never locked here, only read; the foreign keys of
new bets, seats and sessions share their locks (``FOR KEY SHARE`` on PostgreSQL, a
shared lock on MariaDB). Joins used to lock the games row, and deadlocked with side
bets that held a room and needed that row for their foreign-key check. (On SQLite
each transaction takes the one write lock at BEGIN, so nothing can deadlock there.)

Each unit of work runs in ``core.db.retry_on_deadlock``: a deadlock that can still
happen (two joins opening a lobby at once on MariaDB, or a lock taken outside this
order by another domain) re-runs the whole unit, and one that keeps losing answers 503
with Retry-After, never 500. A unit is the request's whole transaction (the request
has only read before it), so a retry costs no extra commit.

Round trips: each action reads what it needs in as few statements as it can (the room
with its seats; every wallet a settlement pays in one), writes with Core statements
rather than unit-of-work flushes, and on PostgreSQL folds what belongs together into one
statement (a join's seat, session, bet and the game's start; a pull; a game's end).
``tests/games/roulette/test_round_trips.py`` pins the count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from gamehub.core.db import retry_on_deadlock
from gamehub.core.events import publish_after_commit
from gamehub.core.money import to_major
from gamehub.core.runtime import Runtime
from gamehub.games import fairness
from gamehub.games.catalog import RUSSIAN_ROULETTE, check_stake, playable_game
from gamehub.games.config import side_bet_edge
from gamehub.games.repository import GameRepository
from gamehub.games.roulette.errors import (
    BetNotOpen,
    BettingClosed,
    GameNotInProgress,
    NotARoomPlayer,
    NotInRoom,
    NotPlayedInRooms,
    NotYourTurn,
    RoomNotFound,
    RoomNotWaiting,
    RoomSizeNotAllowed,
    SeatTaken,
    SideBetNotFound,
    TargetNotInRoom,
)
from gamehub.games.roulette.settle import finish_room, lock_wallets, refund_bet, write_bets
from gamehub.models import Account, Bet, RouletteRoom, RouletteSeat
from gamehub.models.games import BetKind, BetStatus, RoomStatus, SeatStatus
from gamehub.models.ledger import AccountKind, Category
from gamehub.protection.service import BetGuard, Protection
from gamehub.stats.hooks import record_results
from gamehub.wallet.ledger import Ledger, Posting
from gamehub.wallet.taxes import Taxes, TaxRule, tax_postings


@dataclass(frozen=True, slots=True)
class Joined:
    room: RouletteRoom
    seat: int
    players: int
    # The excise withheld from the stake: what is in the pot is the stake less it.
    stake_tax: int


@dataclass(frozen=True, slots=True)
class Pulled:
    room: RouletteRoom
    chamber: int
    is_hit: bool
    next_player: int | None
    game_over: bool
    # Once the game is over: what it paid the shooter, and the shooter's balance.
    payout: int | None = None
    new_balance: int | None = None


@dataclass(frozen=True, slots=True)
class SideBetPlaced:
    bet_id: int
    multiplier: Fraction
    new_balance: int
    stake_tax: int
    # What a win would pay the wallet, net of the tax on winnings.
    potential_win: int


@dataclass(frozen=True, slots=True)
class SideBetCancelled:
    bet: Bet
    new_balance: int


@dataclass(frozen=True, slots=True)
class Expired:
    room: RouletteRoom
    # Minor units given back to each user, players and side bettors alike.
    refunds: dict[int, int]


class Roulette:
    def __init__(self, session: AsyncSession, runtime: Runtime) -> None:
        self.session = session
        self.runtime = runtime
        self.repo = GameRepository(session)
        self.ledger = Ledger(session, runtime.events)
        self.currency = runtime.settings.currency
        self.taxes = Taxes.of(runtime.settings)

    # Joining and leaving

    async def join(
        self, user_id: int, stake: int | None, max_players: int, game_ref: int | str | None = None
    ) -> Joined:
        """Take a seat; ``stake`` None is the game's minimum, ``game_ref`` (a client's
        game id or slug, if it sent one) must name Russian Roulette."""
        if max_players not in fairness.ALLOWED_ROOM_SIZES:
            raise RoomSizeNotAllowed(list(fairness.ALLOWED_ROOM_SIZES))
        return await retry_on_deadlock(
            self.session, lambda: self._join(user_id, stake, max_players, game_ref)
        )

    async def _join(
        self, user_id: int, stake: int | None, max_players: int, game_ref: int | str | None
    ) -> Joined:
        game = await playable_game(self.session, RUSSIAN_ROULETTE)
        if game_ref is not None and game_ref not in (game.id, game.slug):
            raise NotPlayedInRooms()
        if stake is None:
            stake = game.min_bet
        check_stake(game, stake, "stake")
        # One join of a kind at a time: a room is found (or opened) and filled in turn.
        await self.repo.lock_lobby(self.currency, stake, max_players)
        # A room about to expire is left to it; the newcomer opens a fresh one.
        fresh_since = self.runtime.clock.now() - self._waiting_room_life
        room = await self.repo.waiting_room_for(
            user_id, stake, max_players, self.currency, fresh_since
        )
        if room is None:
            seed = fairness.new_server_seed()
            room = RouletteRoom(
                status=RoomStatus.WAITING.value,
                currency=self.currency,
                stake=stake,
                max_players=max_players,
                seed=seed,
                seed_hash=fairness.seed_hash(seed),
                chambers_pulled=0,
                rake=0,
                # Fixed here, with the opener's stake: the room settles at this rake
                # whatever the operator sets on the game's row later.
                rake_bps=game.rake_bps,
            )
            self.session.add(room)
            await self.session.flush()
            seated: list[RouletteSeat] = []
        else:
            seated = [
                s for s in await self.repo.seats(room.id) if s.status == SeatStatus.SEATED.value
            ]
        seat_number = min(set(range(max_players)) - {s.seat for s in seated})
        players = [*(s.user_id for s in seated), user_id]
        start = self._start() if len(players) == max_players else None
        stake_tax = self.taxes.on_stake(stake)
        try:
            seat_id = await self.repo.seat_player(
                room, user_id, seat_number, game.id, start, stake_tax
            )
        except IntegrityError as exc:
            # The lobby's and the room's locks make this unlikely; the seats' unique keys
            # make it harmless.
            raise SeatTaken() from exc

        guard = await self._guard(user_id, stake)
        wallet = (await self.repo.wallets([user_id], self.currency))[user_id]
        escrow = await self.ledger.system_account(AccountKind.GAME_ESCROW, self.currency)
        await self.ledger.post(
            Category.BET,
            [
                Posting(wallet, -stake),
                Posting(escrow, stake - stake_tax),
                *await tax_postings(self.ledger, TaxRule.STAKE, stake_tax, self.currency),
            ],
            reference=f"roulette-stake:{room.id}:{seat_id}",
            description=f"Russian Roulette room {room.id}: stake",
        )
        if guard is not None:
            await guard.after_bet()
        self._publish_status(room, players)
        if room.status == RoomStatus.PLAYING.value:
            self._publish(
                room,
                "game_started",
                {"game_id": room.id, "roulette_id": room.id, "seed_hash": room.seed_hash},
                players,
            )
        return Joined(room, seat_number, len(players), stake_tax)

    async def _guard(self, user_id: int, stake: int) -> BetGuard | None:
        """The player's protection checks of a stake (age, breaks, limits); the wallet is
        locked here, after the room's locks, in the order every path takes them."""
        guard = await Protection(self.session, self.runtime).bet_guard(user_id)
        if guard is not None:
            await guard.check(stake)
        return guard

    def _start(self) -> dict[str, Any]:
        """What a room that fills becomes: a game in progress, seat 0 to pull."""
        now = self.runtime.clock.now()
        return {
            "status": RoomStatus.PLAYING.value,
            "started_at": now,
            "turn_seat": 0,
            "turn_deadline": now + self._turn_time,
        }

    @property
    def _turn_time(self) -> timedelta:
        return timedelta(seconds=self.runtime.settings.roulette_turn_seconds)

    @property
    def _waiting_room_life(self) -> timedelta:
        return timedelta(seconds=self.runtime.settings.roulette_waiting_room_seconds)

    async def leave(self, user_id: int, room_id: int) -> dict[str, Any]:
        """A player leaves (refunded before the start, forfeiting after); a side bettor
        who has no seat takes back their bets while the room waits."""
        return await retry_on_deadlock(self.session, lambda: self._leave(user_id, room_id))

    async def _leave(self, user_id: int, room_id: int) -> dict[str, Any]:
        room, seats = await self._locked_room(room_id)
        mine = next(
            (s for s in seats if s.user_id == user_id and s.status == SeatStatus.SEATED.value),
            None,
        )
        bets = await self.repo.open_bets(room.id)
        if mine is None:
            own = [b for b in bets if b.user_id == user_id and b.target_user_id is not None]
            if not own:
                raise NotInRoom()
            refunded, _ = await self._cancel_side_bets(room, seats, own)
            return {
                "status": "success",
                "roulette_id": room.id,
                "refunded": to_major(refunded),
                "forfeited": False,
            }
        if room.status == RoomStatus.PLAYING.value:
            settled = await finish_room(
                self.session,
                self.runtime,
                room,
                seats,
                user_id,
                "forfeit",
                bets,
            )
            left = {"roulette_id": room.id, "user_id": user_id}
            bettors = [b.user_id for b in bets if b.kind != BetKind.ROULETTE_STAKE.value]
            self._publish(room, "player_left", left, sorted({*settled.payouts, *bettors}))
            self._publish_result(room, settled.payouts)
            await record_results(self.session, self.runtime, settled.results)
            return {"status": "success", "roulette_id": room.id, "refunded": 0, "forfeited": True}

        # Before the start: the stake comes back, and so do side bets on this player;
        # when the last player goes, every bet in the room does.
        remaining = [
            s.user_id for s in seats if s.status == SeatStatus.SEATED.value and s.user_id != user_id
        ]
        refunds = [
            b
            for b in bets
            if not remaining
            or (b.kind == BetKind.ROULETTE_STAKE.value and b.user_id == user_id)
            or b.target_user_id == user_id
        ]
        wallets = await lock_wallets(self.session, [b.user_id for b in refunds], room.currency)
        for bet in refunds:
            if bet.kind == BetKind.ROULETTE_STAKE.value:
                reason = "Left before the start"
            elif bet.target_user_id == user_id:
                reason = "Side bet void: player left"
            else:
                reason = "Side bet void: room closed"
            await refund_bet(self.ledger, bet, wallets[bet.user_id], room.currency, reason)
        await write_bets(self.session, refunds)
        await self.repo.remove_seat(mine.id)
        await self.repo.end_sessions(room.id, user_id)
        if not remaining:
            await self.repo.update_room(
                room,
                status=RoomStatus.CANCELLED.value,
                end_reason="abandoned",
                ended_at=self.runtime.clock.now(),
            )
        gone: dict[str, Any] = {
            "roulette_id": room.id,
            "user_id": user_id,
            "refunds": _refunds_out(_refunds_by_user(refunds)),
        }
        self._publish(room, "player_left", gone, sorted({*remaining, *(b.user_id for b in bets)}))
        if remaining:
            self._publish_status(room, remaining)
        else:
            self._publish_cancelled(room, _refunds_by_user(refunds))
        return {
            "status": "success",
            "roulette_id": room.id,
            "refunded": to_major(room.stake),
            "forfeited": False,
        }

    async def expire_if_stale(self, room_id: int, now: datetime) -> Expired | None:
        """The games job: cancel a room that has not filled in time, refunding every
        stake and side bet in it. Several workers may try one room: the room's lock and
        a fresh look at its state let one of them do it."""
        return await retry_on_deadlock(self.session, lambda: self._expire(room_id, now))

    async def _expire(self, room_id: int, now: datetime) -> Expired | None:
        room = await self.repo.room(room_id, for_update=True)
        if (
            room is None
            or room.status != RoomStatus.WAITING.value
            or room.created_at > now - self._waiting_room_life
        ):
            return None
        bets = await self.repo.open_bets(room.id)
        wallets = await lock_wallets(self.session, [b.user_id for b in bets], room.currency)
        for bet in bets:
            reason = (
                "Room did not fill in time"
                if bet.kind == BetKind.ROULETTE_STAKE.value
                else "Side bet void: room did not fill in time"
            )
            await refund_bet(self.ledger, bet, wallets[bet.user_id], room.currency, reason)
        await write_bets(self.session, bets)
        await self.repo.mark_seats_left(room.id)
        await self.repo.end_sessions(room.id)
        await self.repo.update_room(
            room, status=RoomStatus.CANCELLED.value, end_reason="expired", ended_at=now
        )
        refunds = _refunds_by_user(bets)
        self._publish_cancelled(room, refunds)
        return Expired(room, refunds)

    # Turns

    async def pull(self, user_id: int, room_id: int) -> Pulled:
        return await retry_on_deadlock(self.session, lambda: self._pull_turn(user_id, room_id))

    async def _pull_turn(self, user_id: int, room_id: int) -> Pulled:
        if self.session.get_bind().dialect.name == "postgresql":
            deadline = self.runtime.clock.now() + self._turn_time
            taken = await self.repo.take_turn(room_id, user_id, deadline)
            if taken is not None:
                room, seats = taken
                return await self._pulled(room, seats, _seat_of(seats, user_id))
        room, seats = await self._locked_room(room_id)
        if not any(s.user_id == user_id for s in seats):
            raise NotARoomPlayer()
        if room.status != RoomStatus.PLAYING.value:
            raise GameNotInProgress(room.status)
        shooter = _seat_at(seats, room.turn_seat)
        if shooter.user_id != user_id:
            raise NotYourTurn()
        return await self._pull(room, seats, shooter)

    async def pull_if_overdue(self, room_id: int, now: datetime) -> Pulled | None:
        """The time-out job: pull for the player whose turn has run out."""
        return await retry_on_deadlock(self.session, lambda: self._pull_overdue(room_id, now))

    async def _pull_overdue(self, room_id: int, now: datetime) -> Pulled | None:
        room, seats = await self.repo.room_with_seats(room_id)
        if (
            room is None
            or room.status != RoomStatus.PLAYING.value
            or room.turn_deadline is None
            or room.turn_deadline > now
        ):
            return None
        return await self._pull(room, seats, _seat_at(seats, room.turn_seat), forced=True)

    async def _pull(
        self,
        room: RouletteRoom,
        seats: Sequence[RouletteSeat],
        shooter: RouletteSeat,
        *,
        forced: bool = False,
    ) -> Pulled:
        """Pull for ``shooter`` in the locked ``room``: count the chamber and pass the
        turn on (written once the outcome is known: a hit writes the room's end)."""
        set_committed_value(room, "chambers_pulled", room.chambers_pulled + 1)
        if room.chambers_pulled != fairness.bullet_chamber(room.seed):
            players = [s for s in seats if s.status == SeatStatus.SEATED.value]
            following = players[(players.index(shooter) + 1) % len(players)]
            await self.repo.update_room(
                room,
                chambers_pulled=room.chambers_pulled,
                turn_seat=following.seat,
                turn_deadline=self.runtime.clock.now() + self._turn_time,
            )
        return await self._pulled(room, seats, shooter, forced=forced)

    async def _pulled(
        self,
        room: RouletteRoom,
        seats: Sequence[RouletteSeat],
        shooter: RouletteSeat,
        *,
        forced: bool = False,
    ) -> Pulled:
        """The chamber ``shooter`` pulled is counted in ``room`` and, if it was empty,
        the turn passed on: settle a hit (at the room's own rake), and tell everyone."""
        chamber = room.chambers_pulled
        is_hit = chamber == fairness.bullet_chamber(room.seed)
        players = [s for s in seats if s.status == SeatStatus.SEATED.value]
        next_player: int | None = None
        settled = None
        if is_hit:
            bets = await self.repo.open_bets(room.id)
            # Writes the room's end, with this chamber.
            settled = await finish_room(
                self.session,
                self.runtime,
                room,
                seats,
                shooter.user_id,
                "hit",
                bets,
            )
        else:
            next_player = _seat_at(seats, room.turn_seat).user_id
        self._publish(
            room,
            "trigger_result",
            {
                "roulette_id": room.id,
                "player_id": shooter.user_id,
                "chamber": chamber,
                # The seed's name for it.
                "position": chamber,
                "is_hit": is_hit,
                "forced": forced,
                "next_player": next_player,
                "game_over": is_hit,
            },
            [s.user_id for s in players],
        )
        if settled is None:
            return Pulled(room, chamber, is_hit, next_player, is_hit)
        self._publish_result(room, settled.payouts)
        await record_results(self.session, self.runtime, settled.results)
        shooter_id = shooter.user_id
        return Pulled(
            room,
            chamber,
            is_hit,
            next_player,
            is_hit,
            payout=settled.paid.get(shooter_id, 0),
            new_balance=settled.balances.get(shooter_id),
        )

    # Side bets

    async def place_bet(
        self, user_id: int, room_id: int, player_id: int, bet_type: str, amount: int
    ) -> SideBetPlaced:
        return await retry_on_deadlock(
            self.session, lambda: self._place_bet(user_id, room_id, player_id, bet_type, amount)
        )

    async def _place_bet(
        self, user_id: int, room_id: int, player_id: int, bet_type: str, amount: int
    ) -> SideBetPlaced:
        room, seats = await self._locked_room(room_id)
        if not room.bets_open:
            raise BettingClosed()
        seated = [s for s in seats if s.status == SeatStatus.SEATED.value]
        target = next((s for s in seated if s.user_id == player_id), None)
        if target is None:
            raise TargetNotInRoom()
        game = await playable_game(self.session, RUSSIAN_ROULETTE)
        check_stake(game, amount, "bet_amount")
        # The edge on the game's row as this transaction reads it: an operator's change
        # is in force for the next bet.
        edge = side_bet_edge(game)
        odds_for = (
            fairness.survival_multiplier
            if bet_type == BetKind.SURVIVAL.value
            else fairness.elimination_multiplier
        )
        multiplier = odds_for(room.max_players, target.seat, edge)

        guard = await self._guard(user_id, amount)
        wallet = (await self.repo.wallets([user_id], self.currency))[user_id]
        escrow = await self.ledger.system_account(AccountKind.GAME_ESCROW, self.currency)
        stake_tax = self.taxes.on_stake(amount)
        in_play = amount - stake_tax
        bet_id = await self.repo.add_side_bet(
            user_id=user_id,
            game_id=game.id,
            kind=bet_type,
            amount=amount,
            stake_tax=stake_tax,
            server_seed_hash=room.seed_hash,
            room_id=room.id,
            target_user_id=player_id,
            odds=str(multiplier),
        )
        await self.ledger.post(
            Category.BET,
            [
                Posting(wallet, -amount),
                Posting(escrow, in_play),
                *await tax_postings(self.ledger, TaxRule.STAKE, stake_tax, self.currency),
            ],
            reference=f"roulette-side-bet-stake:{bet_id}",
            description=f"Russian Roulette room {room.id}: {bet_type} bet",
        )
        if guard is not None:
            await guard.after_bet()
        self._publish(
            room,
            "bet_placed",
            {
                "roulette_id": room.id,
                "bet_id": bet_id,
                "user_id": user_id,
                "player_id": player_id,
                "bet_type": bet_type,
                "bet_amount": to_major(amount),
                "odds": float(multiplier),
                "odds_exact": str(multiplier),
            },
            sorted({*(s.user_id for s in seated), user_id}),
        )
        win = fairness.payout(in_play, multiplier)
        potential_win = win - self.taxes.on_winnings(win, in_play)
        return SideBetPlaced(bet_id, multiplier, wallet.balance, stake_tax, potential_win)

    async def cancel_bet(self, user_id: int, bet_id: int) -> SideBetCancelled:
        """Take back one's side bet while its room still waits for players."""
        return await retry_on_deadlock(self.session, lambda: self._cancel_bet(user_id, bet_id))

    async def _cancel_bet(self, user_id: int, bet_id: int) -> SideBetCancelled:
        found = await self.repo.users_side_bet(user_id, bet_id)
        if found is None or found.room_id is None:
            raise SideBetNotFound()
        room, seats = await self._locked_room(found.room_id)
        # Under the room's lock: a cancellation, the room's expiry or a last player's
        # leaving that got there first has refunded it already.
        bet = await self.repo.bet(bet_id)
        assert bet is not None
        if bet.status != BetStatus.OPEN.value:
            raise BetNotOpen(bet.status)
        _, wallet = await self._cancel_side_bets(room, seats, [bet])
        return SideBetCancelled(bet, wallet.balance)

    async def _cancel_side_bets(
        self, room: RouletteRoom, seats: Sequence[RouletteSeat], bets: Sequence[Bet]
    ) -> tuple[int, Account]:
        """Refund one bettor's side bets in a waiting room; returns the total and the
        bettor's wallet, as it is now."""
        if room.status != RoomStatus.WAITING.value:
            raise RoomNotWaiting(room.status)
        bettor = bets[0].user_id
        wallet = (await self.repo.wallets([bettor], room.currency))[bettor]
        for bet in bets:
            await refund_bet(self.ledger, bet, wallet, room.currency, "Side bet cancelled")
        await write_bets(self.session, bets)
        players = [s.user_id for s in seats if s.status == SeatStatus.SEATED.value]
        for bet in bets:
            self._publish(
                room,
                "bet_cancelled",
                {
                    "roulette_id": room.id,
                    "bet_id": bet.id,
                    "user_id": bet.user_id,
                    "player_id": bet.target_user_id,
                    "bet_type": bet.kind,
                    "bet_amount": to_major(bet.amount),
                },
                sorted({*players, bet.user_id}),
            )
        return sum(b.amount for b in bets), wallet

    # Helpers

    async def _locked_room(self, room_id: int) -> tuple[RouletteRoom, list[RouletteSeat]]:
        room, seats = await self.repo.room_with_seats(room_id)
        if room is None:
            raise RoomNotFound()
        return room, seats

    def _publish(
        self, room: RouletteRoom, name: str, data: dict[str, Any], players: Sequence[int]
    ) -> None:
        """To the room's watchers and to each player's own stream."""
        publish_after_commit(
            self.session, self.runtime.events, name, data, users=players, rooms=[room.id]
        )

    def _publish_status(
        self, room: RouletteRoom, players: Sequence[int], audience: Sequence[int] | None = None
    ) -> None:
        """The room's state, to its players (or a wider ``audience``) and its watchers."""
        self._publish(
            room,
            "game_status",
            {
                # The seed's name for the room.
                "game_id": room.id,
                "roulette_id": room.id,
                "status": room.status,
                "players": len(players),
                "max_players": room.max_players,
            },
            players if audience is None else audience,
        )

    def _publish_cancelled(self, room: RouletteRoom, refunds: dict[int, int]) -> None:
        """To everyone who had money in the room (each player had a stake) and its
        watchers: why it closed and what each of them got back."""
        everyone = sorted(refunds)
        self._publish(
            room,
            "room_cancelled",
            {"roulette_id": room.id, "reason": room.end_reason, "refunds": _refunds_out(refunds)},
            everyone,
        )
        self._publish_status(room, [], everyone)

    def _publish_result(self, room: RouletteRoom, payouts: dict[int, int]) -> None:
        self._publish(
            room,
            "game_result",
            {
                "roulette_id": room.id,
                "eliminated_player": room.eliminated_user_id,
                "reason": room.end_reason,
                "bullet_chamber": fairness.bullet_chamber(room.seed),
                # The seed's name for it.
                "bullet_position": fairness.bullet_chamber(room.seed),
                "seed": room.seed,
                "seed_hash": room.seed_hash,
                "payouts": {str(k): to_major(v) for k, v in payouts.items()},
                "game_over": True,
            },
            list(payouts),
        )


def _refunds_by_user(bets: Sequence[Bet]) -> dict[int, int]:
    refunds: dict[int, int] = {}
    for bet in bets:
        refunds[bet.user_id] = refunds.get(bet.user_id, 0) + bet.amount
    return refunds


def _refunds_out(refunds: dict[int, int]) -> dict[str, float]:
    return {str(user_id): to_major(amount) for user_id, amount in refunds.items()}


def _seat_of(seats: Sequence[RouletteSeat], user_id: int) -> RouletteSeat:
    return next(s for s in seats if s.user_id == user_id)


def _seat_at(seats: Sequence[RouletteSeat], seat_number: int | None) -> RouletteSeat:
    return next(s for s in seats if s.seat == seat_number and s.status == SeatStatus.SEATED.value)
