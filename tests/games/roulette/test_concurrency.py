"""Joins and side bets racing on one game and its rooms: no deadlock reaches a client.

Run against PostgreSQL and MariaDB (GAMEHUB_TEST_DATABASE_URL) these are real
transactions on real connections taking row locks at the same time; on SQLite they
queue for the write lock.
"""

from __future__ import annotations

from collections import Counter

import anyio
from sqlalchemy import select

from gamehub.core.runtime import Runtime
from gamehub.models import Bet, RouletteRoom, RouletteSeat
from gamehub.models.games import BetStatus
from gamehub.models.ledger import AccountKind
from gamehub.wallet.ledger import Ledger
from tests.games.roulette.test_game import STAKE
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
