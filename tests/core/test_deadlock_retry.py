"""retry_on_deadlock against real deadlocks: two transactions locking two rows in
opposite order, on PostgreSQL and MariaDB (SQLite serialises writers and cannot
deadlock)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import Phase, after_commit, retry_on_deadlock
from gamehub.core.runtime import Runtime
from gamehub.errors import DatabaseBusy
from gamehub.models import Game
from gamehub.models.games import RouletteLobby

# What a unit does before its step (given its session and its number).
Before = Callable[[AsyncSession, int], Awaitable[None]]


async def two_rows(runtime: Runtime) -> tuple[int, int]:
    async with runtime.db.unit_of_work() as session:
        ids = list((await session.execute(select(Game.id).order_by(Game.id))).scalars())
    return ids[0], ids[1]


async def cross_locks(
    runtime: Runtime, attempts: int, before: Before | None = None
) -> tuple[list[int], list[Any], list[str]]:
    """Two units of work, each locking one row, then (once both hold one) the other's.

    Returns how often each ran its step, what each returned or raised, and which
    after-commit callbacks ran."""
    first, second = await two_rows(runtime)
    holding = [anyio.Event(), anyio.Event()]
    runs = [0, 0]
    outcomes: list[Any] = [None, None]
    committed: list[str] = []

    async def unit(me: int, rows: tuple[int, int]) -> None:
        async with runtime.db.unit_of_work() as session:
            if before is not None:
                await before(session, me)

            async def step() -> str:
                runs[me] += 1
                attempt = runs[me]

                async def note() -> None:
                    committed.append(f"unit {me} attempt {attempt}")

                after_commit(session, note, phase=Phase.EVENTS)
                await session.execute(select(Game.id).where(Game.id == rows[0]).with_for_update())
                if attempt == 1:
                    holding[me].set()
                    await holding[1 - me].wait()
                await session.execute(select(Game.id).where(Game.id == rows[1]).with_for_update())
                return f"unit {me} done"

            try:
                outcomes[me] = await retry_on_deadlock(session, step, attempts=attempts)
            except DatabaseBusy as exc:
                outcomes[me] = exc

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(unit, 0, (first, second))
            group.start_soon(unit, 1, (second, first))
    return runs, outcomes, committed


@pytest.fixture
def real_locks(backend_name: str) -> None:
    if backend_name == "sqlite":
        pytest.skip("SQLite takes its one write lock at BEGIN: transactions cannot deadlock")


@pytest.mark.usefixtures("real_locks")
async def test_the_deadlock_victim_runs_again_and_both_units_complete(runtime: Runtime) -> None:
    runs, outcomes, committed = await cross_locks(runtime, attempts=3)
    assert sorted(runs) == [1, 2]
    assert outcomes == ["unit 0 done", "unit 1 done"]
    victim = runs.index(2)
    # The victim's first attempt was rolled back: what it meant to do after its commit
    # went with it.
    assert sorted(committed) == sorted([f"unit {1 - victim} attempt 1", f"unit {victim} attempt 2"])


@pytest.mark.usefixtures("real_locks")
async def test_a_unit_that_keeps_losing_answers_503_with_retry_after(runtime: Runtime) -> None:
    runs, outcomes, committed = await cross_locks(runtime, attempts=1)
    assert runs == [1, 1]
    victim = next(i for i, outcome in enumerate(outcomes) if isinstance(outcome, DatabaseBusy))
    busy = outcomes[victim]
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert outcomes[1 - victim] == f"unit {1 - victim} done"
    assert committed == [f"unit {1 - victim} attempt 1"]


async def test_other_database_errors_are_not_retried(runtime: Runtime) -> None:
    runs = 0
    async with runtime.db.unit_of_work() as session:
        slug = (await session.execute(select(Game.slug).limit(1))).scalar_one()

    async def duplicate() -> None:
        nonlocal runs
        runs += 1
        await session.execute(
            insert(Game).values(
                slug=slug, name="x", description="", rules="", min_bet=1, max_bet=2, is_active=True
            )
        )

    with pytest.raises(IntegrityError):
        async with runtime.db.unit_of_work() as session:
            await retry_on_deadlock(session, duplicate)
    assert runs == 1


async def open_lobby(session: AsyncSession, me: int) -> None:
    """A write of the unit's own, before its step: a row no other unit touches."""
    await session.execute(insert(RouletteLobby).values(currency="KES", stake=me, max_players=2))


@pytest.mark.usefixtures("real_locks")
async def test_what_a_unit_wrote_before_the_step_survives_the_steps_deadlock(
    runtime: Runtime,
) -> None:
    runs, outcomes, _ = await cross_locks(runtime, attempts=3, before=open_lobby)
    assert sorted(runs) == [1, 2]
    assert outcomes == ["unit 0 done", "unit 1 done"]
    async with runtime.db.unit_of_work() as session:
        stakes = (await session.execute(select(RouletteLobby.stake))).scalars().all()
    assert sorted(stakes) == [0, 1]


@contextmanager
def counting_commits(runtime: Runtime) -> Iterator[list[object]]:
    commits: list[object] = []

    def note(connection: object) -> None:
        commits.append(connection)

    event.listen(runtime.db.engine.sync_engine, "commit", note)
    try:
        yield commits
    finally:
        event.remove(runtime.db.engine.sync_engine, "commit", note)


async def test_a_step_after_only_reads_is_the_units_one_transaction(runtime: Runtime) -> None:
    with counting_commits(runtime) as commits:
        async with runtime.db.unit_of_work() as session:
            await session.execute(select(Game.id))
            await retry_on_deadlock(session, lambda: open_lobby(session, 7))
    assert len(commits) == 1


async def test_a_step_after_a_write_commits_that_write_first(runtime: Runtime) -> None:
    with counting_commits(runtime) as commits:
        async with runtime.db.unit_of_work() as session:
            await open_lobby(session, 7)
            await retry_on_deadlock(session, lambda: open_lobby(session, 8))
    assert len(commits) == 2
