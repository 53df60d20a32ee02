"""A game's settings changed by an operator are in force for the very next bet, on
whichever path it takes: PostgreSQL's two statements (alone or in a batch) read them in
the statement that takes the stake, the generic path in the spin's transaction."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import update

from gamehub.core.runtime import Runtime
from gamehub.games.spin import batcher
from gamehub.models import Game
from tests.games.support import PLAY, assert_ledger_ok, player, put_reward_table
from tests.support.api import Client

NINETY = '[{"multiplier": "0", "weight": 1}, {"multiplier": "1.8", "weight": 1}]'


async def set_game(runtime: Runtime, **values: Any) -> None:
    async with runtime.db.unit_of_work() as session:
        await session.execute(update(Game).where(Game.slug == "spin-and-win").values(**values))


async def spin(client: Client, who: Any, amount: float = 10) -> Any:
    return await client.post(PLAY, headers=who.headers, json={"bet_amount": amount})


async def test_limits_and_closing_apply_to_the_next_spin(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    # The first spin creates the seed; the next ones take the backend's own path.
    assert (await spin(client, me)).status_code == 200
    assert (await spin(client, me)).status_code == 200

    await set_game(runtime, min_bet=2000)
    low = await spin(client, me, 10)
    assert low.status_code == 422
    assert low.json()["error"] == "StakeOutOfRange"
    assert (await spin(client, me, 20)).status_code == 200

    await set_game(runtime, max_bet=2500)
    assert (await spin(client, me, 30)).json()["error"] == "StakeOutOfRange"

    await set_game(runtime, is_active=False)
    closed = await spin(client, me, 20)
    assert closed.status_code == 409
    assert closed.json()["error"] == "GameClosed"

    await set_game(runtime, is_active=True)
    assert (await spin(client, me, 20)).status_code == 200
    await assert_ledger_ok(runtime)


async def test_the_table_in_force_is_the_one_each_spin_uses_and_stores(
    client: Client, runtime: Runtime
) -> None:
    me = await player(client, runtime, 1_000_000)
    assert (await spin(client, me)).json()["reward_table_version"] == 1
    version = await put_reward_table(runtime, NINETY)
    played = [(await spin(client, me)).json() for _ in range(10)]
    assert {p["reward_table_version"] for p in played} == {version}
    assert {p["result"] for p in played} <= {"0.0x", "1.8x"}
    await assert_ledger_ok(runtime)


async def test_a_batch_of_spins_uses_the_table_in_force(
    client: Client, runtime: Runtime, backend_name: str
) -> None:
    players = [await player(client, runtime) for _ in range(4)]
    for who in players:
        assert (await spin(client, who)).status_code == 200
    version = await put_reward_table(runtime, NINETY)
    if backend_name == "postgresql":
        # Straight to the group commit: several players' spins in shared statements.
        played = await asyncio.gather(*(batcher(runtime).play(p.id, 1000) for p in players))
        assert all(p is not None and p.reward_table_version == version for p in played)
        assert {p.result for p in played if p is not None} <= {"0.0x", "1.8x"}
    else:
        answers = await asyncio.gather(*(spin(client, p) for p in players))
        assert {a.json()["reward_table_version"] for a in answers} == {version}
    await assert_ledger_ok(runtime)
