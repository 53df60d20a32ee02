"""Joins, side bets and leaves racing on one game and its rooms: no deadlock reaches a
client, and a request that waited for a room's lock acts on the room as it was left.

Run against PostgreSQL and MariaDB (GAMEHUB_TEST_DATABASE_URL) these are real
transactions on real connections taking row locks at the same time; on SQLite they
queue for the write lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

import anyio
import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.runtime import Runtime
from gamehub.games.roulette.service import Roulette
from gamehub.models import Bet, RouletteRoom, RouletteSeat
from gamehub.models.games import BetStatus
from gamehub.models.ledger import AccountKind
from gamehub.wallet.ledger import Ledger
from tests.games.roulette.test_game import STAKE, room_state, seat_players
from tests.games.support import Player, assert_ledger_ok, balance, player
from tests.support.api import Client

ROOM_SIZE = 6
# The anchor's room and two more fill: 17 joins and 24 side bets in flight at once,
# within the pool's 30 connections.
JOINERS = 3 * ROOM_SIZE - 1
BETTORS = 12
BETS_EACH = 2
SIDE_BET = 10  # KES


async def test_simultaneous_joins_and_side_bets_all_succeed_and_escrow_adds_up(
    client: Client, runtime: Runtime
) -> None:
    anchor = await player(client, runtime)
    joined = await client.post(
        "/games/join", headers=anchor.headers, json={"stake": STAKE, "max_players": ROOM_SIZE}
    )
    room_id = joined.json()["roulette_id"]
    joiners = [await player(client, runtime) for _ in range(JOINERS)]
    bettors = [await player(client, runtime) for _ in range(BETTORS)]
    statuses: Counter[tuple[str, int]] = Counter()

    async def join(who: Player) -> None:
        response = await client.post(
            "/games/join", headers=who.headers, json={"stake": STAKE, "max_players": ROOM_SIZE}
        )
        statuses["join", response.status_code] += 1

    async def bet(who: Player, bet_type: str) -> None:
        # On the room the joins are filling, so each bet's insert meets the joins' locks.
        response = await client.post(
            "/games/place-bet",
            headers=who.headers,
            json={"roulette_id": room_id, "player_id": anchor.id, "bet_type": bet_type,
                  "bet_amount": SIDE_BET},
        )  # fmt: skip
        statuses["bet", response.status_code] += 1

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            for index in range(max(JOINERS, BETTORS)):
                if index < JOINERS:
                    group.start_soon(join, joiners[index])
                if index < BETTORS:
                    for bet_type in ("survival", "elimination")[:BETS_EACH]:
                        group.start_soon(bet, bettors[index], bet_type)
    assert statuses == {("join", 200): JOINERS, ("bet", 200): BETTORS * BETS_EACH}

    async with runtime.db.unit_of_work() as session:
        rooms = (await session.execute(select(RouletteRoom))).scalars().all()
        seats = (await session.execute(select(RouletteSeat))).scalars().all()
        open_bets = (
            (await session.execute(select(Bet).where(Bet.status == BetStatus.OPEN.value)))
            .scalars()
            .all()
        )
        ledger = Ledger(session)
        escrow = await ledger.balance(
            await ledger.system_account(AccountKind.GAME_ESCROW, runtime.settings.currency)
        )
    assert len(rooms) == 3
    assert {r.status for r in rooms} == {"playing"}
    assert Counter(s.room_id for s in seats) == {r.id: ROOM_SIZE for r in rooms}
    stakes = (JOINERS + 1) * STAKE * 100
    side_bets = BETTORS * BETS_EACH * SIDE_BET * 100
    assert escrow == sum(b.amount for b in open_bets) == stakes + side_bets
    for who in joiners:
        assert await balance(client, who) == 1000 - STAKE
    for who in bettors:
        assert await balance(client, who) == 1000 - BETS_EACH * SIDE_BET
    await assert_ledger_ok(runtime)


# Whether a statement of this test's database is waiting for a row lock. On MariaDB, a
# locking read in progress: the holder's transaction runs no statement while it is
# polled, so one that has not finished is waiting for it. (INNODB_TRX did not list the
# waiter, which MariaDB shows in its "Statistics" state.)
LOCK_WAITS = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'",
    "mysql": "SELECT count(*) FROM information_schema.processlist"
    " WHERE db = DATABASE() AND command = 'Query' AND info LIKE '%FOR UPDATE'",
}


async def leave_while_held(
    client: Client,
    runtime: Runtime,
    leaver: Player,
    room_id: int,
    holder: Callable[[AsyncSession], Awaitable[object]],
) -> httpx.Response:
    """``leaver`` leaves while ``holder`` changes the room in a transaction that commits
    only once the leave is waiting for the room's lock: so the leave's first statement
    begins before that change is committed, and ends after."""
    if runtime.db.backend == "sqlite":
        pytest.skip("SQLite has no row locks: a writer waits for the one write lock first")
    answers: list[httpx.Response] = []

    async def leave() -> None:
        answers.append(
            await client.post("/games/leave", headers=leaver.headers, json={"roulette_id": room_id})
        )

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group, runtime.db.unit_of_work() as session:
            await holder(session)
            group.start_soon(leave)
            # Each poll a transaction of its own: PostgreSQL takes pg_stat_activity's
            # snapshot once per transaction.
            watching = runtime.db.engine.execution_options(isolation_level="AUTOCOMMIT")
            async with watching.connect() as watcher:
                waits = text(LOCK_WAITS[runtime.db.backend])
                while not await watcher.scalar(waits):  # noqa: ASYNC110 (the server, polled)
                    await anyio.sleep(0.01)
    return answers[0]


async def leave_as_another_joins(
    client: Client, runtime: Runtime, room_size: int
) -> tuple[Player, Player, int, httpx.Response]:
    """The one player of a room of ``room_size`` leaves while a newcomer's join to it
    holds the room's lock; returns both players, the room and the leave's answer."""
    (quitter,), room_id = await seat_players(client, runtime, 1, max_players=room_size)
    newcomer = await player(client, runtime)

    async def join(session: AsyncSession) -> object:
        return await Roulette(session, runtime).join(newcomer.id, STAKE * 100, room_size)

    left = await leave_while_held(client, runtime, quitter, room_id, join)
    assert left.status_code == 200, left.text
    return quitter, newcomer, room_id, left


async def test_a_player_leaving_as_a_join_fills_the_room_forfeits_to_the_newcomer(
    client: Client, runtime: Runtime
) -> None:
    quitter, newcomer, room_id, left = await leave_as_another_joins(client, runtime, 2)
    assert left.json()["forfeited"] is True
    state = await room_state(client, room_id)
    assert (state["status"], state["eliminated_player"]) == ("finished", quitter.id)
    assert await balance(client, quitter) == 1000 - STAKE
    assert await balance(client, newcomer) == 1000 - STAKE + STAKE * 2 * 95 / 100
    await assert_ledger_ok(runtime)


async def test_a_player_leaving_as_another_joins_leaves_the_newcomer_seated(
    client: Client, runtime: Runtime
) -> None:
    quitter, newcomer, room_id, left = await leave_as_another_joins(client, runtime, 3)
    assert left.json() == {"status": "success", "roulette_id": room_id, "refunded": STAKE,
                           "forfeited": False}  # fmt: skip
    state = await room_state(client, room_id)
    assert state["status"] == "waiting"
    assert [p["user_id"] for p in state["players"]] == [newcomer.id]
    assert await balance(client, quitter) == 1000
    assert await balance(client, newcomer) == 1000 - STAKE
    await assert_ledger_ok(runtime)


async def test_the_last_of_two_leaving_at_once_cancels_the_room(
    client: Client, runtime: Runtime
) -> None:
    (first, second), room_id = await seat_players(client, runtime, 2, max_players=3)

    async def leave(session: AsyncSession) -> object:
        return await Roulette(session, runtime).leave(first.id, room_id)

    left = await leave_while_held(client, runtime, second, room_id, leave)
    assert left.status_code == 200, left.text
    assert left.json()["refunded"] == STAKE
    state = await room_state(client, room_id)
    assert (state["status"], state["players"]) == ("cancelled", [])
    for who in (first, second):
        assert await balance(client, who) == 1000
    await assert_ledger_ok(runtime)
