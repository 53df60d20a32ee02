"""Group commit on PostgreSQL: concurrent spins of different players share one
transaction, and each still succeeds or fails on its own, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.runtime import Runtime
from gamehub.games.spin import SpinPlayed, batcher, play_together
from gamehub.games.spin_batch import SpinBatcher
from gamehub.models import Bet, LedgerTransaction
from tests.games.support import (
    PLAY,
    Player,
    assert_ledger_ok,
    balance,
    opening,
    player,
    postgresql_only,
    quiet_app_client,  # noqa: F401 - the module's `client` fixture
    quiet_app_runtime,  # noqa: F401 - the module's `runtime` fixture
)
from tests.support.api import Client
from tests.support.round_trips import round_trips

_postgresql_only = postgresql_only(
    "group commit is PostgreSQL's; other backends play each spin alone"
)


async def players_with_seeds(client: Client, runtime: Runtime, count: int) -> list[Player]:
    """Players who have spun once: their seeds exist, so their spins can be batched."""
    players = [await player(client, runtime) for _ in range(count)]
    for who in players:
        response = await client.post(PLAY, headers=who.headers, json={"bet_amount": 10})
        assert response.status_code == 200, response.text
    return players


async def bets_of(runtime: Runtime, user_id: int) -> list[Bet]:
    async with runtime.db.unit_of_work() as session:
        found = await session.execute(select(Bet).where(Bet.user_id == user_id).order_by(Bet.id))
        return list(found.scalars().all())


async def test_spins_waiting_together_are_written_in_one_transaction(
    client: Client, runtime: Runtime
) -> None:
    players = await players_with_seeds(client, runtime, 10)
    with round_trips(runtime) as sent:
        # Queued before the batch's writer first runs: it takes them all at once.
        played = await asyncio.gather(*(batcher(runtime).play(p.id, 1500) for p in players))
    assert sent.count("COMMIT") == 1
    assert [s for s in opening(sent) if s.startswith("WITH")] == [
        "WITH stakes AS",
        "WITH spins AS",
    ]
    for who, spin in zip(players, played, strict=True):
        assert spin is not None
        bets = await bets_of(runtime, who.id)
        assert bets[-1].id == spin.bet_id
        assert [b.nonce for b in bets] == [0, 1]
        assert await balance(client, who) == pytest.approx(
            (100_000 - 1000 - 1500 + bets[0].win_amount + spin.win_amount) / 100
        )
    await assert_ledger_ok(runtime)


async def test_each_spin_s_postings_name_its_bet(client: Client, runtime: Runtime) -> None:
    players = await players_with_seeds(client, runtime, 4)
    played = await asyncio.gather(*(batcher(runtime).play(p.id, 1700) for p in players))
    async with runtime.db.unit_of_work() as session:
        for spin in played:
            assert spin is not None
            references = (
                await session.execute(
                    select(LedgerTransaction.reference, LedgerTransaction.category).where(
                        LedgerTransaction.reference.in_(
                            [f"spin-stake:{spin.bet_id}", f"spin-win:{spin.bet_id}"]
                        )
                    )
                )
            ).all()
            expected = {(f"spin-stake:{spin.bet_id}", "bet")}
            if spin.win_amount:
                expected.add((f"spin-win:{spin.bet_id}", "win"))
            assert set(references) == expected


async def test_a_spin_the_batch_cannot_take_is_left_untouched_for_its_request(
    client: Client, runtime: Runtime
) -> None:
    rich, poor = await players_with_seeds(client, runtime, 2)
    before = await balance(client, poor)
    stake = round(before * 100) + 1
    played = await asyncio.gather(
        batcher(runtime).play(rich.id, 1000), batcher(runtime).play(poor.id, stake)
    )
    assert played[0] is not None
    assert played[1] is None
    assert len(await bets_of(runtime, poor.id)) == 1
    # Its request, played alone, says why.
    response = await client.post(PLAY, headers=poor.headers, json={"bet_amount": stake / 100})
    assert response.status_code == 409
    assert response.json()["error"] == "InsufficientFunds"
    assert await balance(client, poor) == before
    await assert_ledger_ok(runtime)


async def test_a_player_s_second_spin_waits_for_the_next_batch(
    client: Client, runtime: Runtime
) -> None:
    (me,) = await players_with_seeds(client, runtime, 1)
    first, second = await asyncio.gather(
        batcher(runtime).play(me.id, 1000), batcher(runtime).play(me.id, 1000)
    )
    assert first is not None
    assert second is not None
    assert (first.nonce, second.nonce) == (1, 2)
    await assert_ledger_ok(runtime)


async def test_a_batch_whose_statements_fail_keeps_nothing_and_each_spin_is_played_alone(
    client: Client, runtime: Runtime
) -> None:
    players = await players_with_seeds(client, runtime, 3)
    before = [await balance(client, p) for p in players]

    async def fails_after_writing(
        session: AsyncSession, spins: Sequence[tuple[int, int]]
    ) -> dict[int, SpinPlayed]:
        await play_together(session, runtime, spins)
        raise RuntimeError("as a deadlock with another worker's batch would")

    failing = SpinBatcher(runtime.db, fails_after_writing)
    played = await asyncio.gather(*(failing.play(p.id, 1300) for p in players))
    assert played == [None, None, None]
    assert [await balance(client, p) for p in players] == before
    for who in players:
        assert len(await bets_of(runtime, who.id)) == 1
    # Played alone, each succeeds once.
    for who in players:
        response = await client.post(PLAY, headers=who.headers, json={"bet_amount": 13})
        assert response.status_code == 200
        assert len(await bets_of(runtime, who.id)) == 2
    await assert_ledger_ok(runtime)


async def test_a_batch_whose_commit_fails_answers_the_error_and_is_not_retried(
    client: Client, runtime: Runtime, database_url: str
) -> None:
    players = await players_with_seeds(client, runtime, 2)
    before = [await balance(client, p) for p in players]
    url = make_url(database_url)

    async def loses_its_connection(
        session: AsyncSession, spins: Sequence[tuple[int, int]]
    ) -> dict[int, SpinPlayed]:
        played = await play_together(session, runtime, spins)
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        killer = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, database=url.database
        )
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        return played

    dying = SpinBatcher(runtime.db, loses_its_connection)
    outcomes = await asyncio.gather(
        *(dying.play(p.id, 1300) for p in players), return_exceptions=True
    )
    assert all(isinstance(o, Exception) for o in outcomes), outcomes
    # Not played again behind the caller's back: here the commit never happened.
    assert [await balance(client, p) for p in players] == before
    async with runtime.db.unit_of_work() as session:
        count = await session.scalar(
            select(func.count()).select_from(Bet).where(Bet.user_id.in_([p.id for p in players]))
        )
    assert count == len(players)
    await assert_ledger_ok(runtime)


async def test_concurrent_spins_over_http_each_succeed_once(
    client: Client, runtime: Runtime
) -> None:
    players = await players_with_seeds(client, runtime, 8)
    responses = await asyncio.gather(
        *(
            client.post(PLAY, headers=p.headers, json={"bet_amount": 12})
            for p in players
            for _ in range(3)
        )
    )
    assert [r.status_code for r in responses] == [200] * 24
    ids = [r.json()["bet_id"] for r in responses]
    assert len(set(ids)) == 24
    for who in players:
        bets = await bets_of(runtime, who.id)
        assert [b.nonce for b in bets] == [0, 1, 2, 3]
    await assert_ledger_ok(runtime)
