"""How many round trips a spin costs on PostgreSQL, pinned so that none creeps back.

The caller's identity costs none: it comes from the token and the cached user state.

Counted, not timed: every statement the request sends, plus its BEGIN and COMMIT. A
change that adds one fails here and must say why in docs/performance.md.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from gamehub.core.runtime import Runtime
from gamehub.models import Bet, PlayerResult, Stats
from tests.games.support import (
    PLAY,
    assert_ledger_ok,
    opening,
    player,
    postgresql_only,
    quiet_app_client,  # noqa: F401 - the module's `client` fixture
    quiet_app_runtime,  # noqa: F401 - the module's `runtime` fixture
)
from tests.support.api import Client
from tests.support.round_trips import round_trips

_postgresql_only = postgresql_only(
    "the two-statement spin is PostgreSQL's; other backends take the generic path"
)


async def test_a_spin_is_the_stake_and_the_settlement_between_begin_and_commit(
    client: Client, runtime: Runtime
) -> None:
    me = await player(client, runtime)
    # The first spin creates the player's seed; the ones after it are the steady state.
    assert (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).status_code == 200
    for _ in range(6):
        with round_trips(runtime) as sent:
            response = await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})
        assert response.status_code == 200, response.text
        assert opening(sent) == [
            "BEGIN",
            "WITH stakes AS",  # the stake and the nonce
            "WITH spins AS",  # both ledger transactions, the bet, stats and result
            "COMMIT",
        ]
    await assert_ledger_ok(runtime)


async def test_an_idempotency_key_adds_its_claim_and_its_response(
    client: Client, runtime: Runtime
) -> None:
    me = await player(client, runtime)
    assert (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).status_code == 200
    headers = {**me.headers, "Idempotency-Key": "counted"}
    with round_trips(runtime) as sent:
        first = await client.post(PLAY, headers=headers, json={"bet_amount": 10})
    assert first.status_code == 200
    assert opening(sent) == [
        "BEGIN",
        "INSERT INTO idempotency_keys",
        "WITH stakes AS",
        "WITH spins AS",
        "UPDATE idempotency_keys SET",
        "COMMIT",
    ]


async def test_the_two_statements_write_what_the_generic_path_writes(
    client: Client, runtime: Runtime
) -> None:
    me = await player(client, runtime, 1_000_000)
    bodies = [
        (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).json()
        for _ in range(30)
    ]
    async with runtime.db.unit_of_work() as session:
        bets = (
            (await session.execute(select(Bet).where(Bet.user_id == me.id).order_by(Bet.id)))
            .scalars()
            .all()
        )
        stats = (await session.execute(select(Stats).where(Stats.user_id == me.id))).scalar_one()
    assert [b.id for b in bets] == [b["bet_id"] for b in bodies]
    assert [b.nonce for b in bets] == list(range(30))
    assert all(b.session_id is not None and b.seed_id is not None for b in bets)
    assert stats.earnings == sum(b.win_amount - b.amount for b in bets)
    assert stats.win_count == sum(b.win_amount > b.amount for b in bets)
    assert stats.loss_count == sum(b.win_amount < b.amount for b in bets)
    await assert_ledger_ok(runtime)


async def test_an_account_without_a_stats_row_gets_one(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    async with runtime.db.unit_of_work() as session:
        await session.execute(delete(Stats).where(Stats.user_id == me.id))
    body = (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).json()
    async with runtime.db.unit_of_work() as session:
        stats = (await session.execute(select(Stats).where(Stats.user_id == me.id))).scalar_one()
        results = (
            (await session.execute(select(PlayerResult).where(PlayerResult.user_id == me.id)))
            .scalars()
            .all()
        )
    earnings = round(body["win_amount"] * 100) - 1000
    assert stats.earnings == earnings
    assert [r.earnings for r in results] == [earnings]
    await assert_ledger_ok(runtime)
