"""Periodic jobs run once per interval across workers: the round's claim in job_leases,
on each database, with the clock moved by hand."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import anyio
import pytest
from sqlalchemy import select

from gamehub.core.clock import ManualClock
from gamehub.core.db import Database
from gamehub.core.jobs import Jobs
from gamehub.core.runtime import Runtime
from gamehub.models import JobLease

INTERVAL = 10.0
NAME = "test-job"


@pytest.fixture
def clock() -> ManualClock:
    # Mid-interval, so that a slot's boundary is never exactly "now".
    return ManualClock(datetime(2026, 12, 1, 12, 0, 3, tzinfo=UTC))


async def lease(runtime: Runtime) -> JobLease:
    async with runtime.db.unit_of_work() as session:
        row = (await session.execute(select(JobLease).where(JobLease.name == NAME))).scalar_one()
        session.expunge(row)
        return row


async def claim_together(*workers: Jobs) -> list[bool]:
    """Every worker claims the round at once; what each got."""
    won = [False] * len(workers)

    async def claim(index: int) -> None:
        won[index] = await workers[index].claim(NAME, INTERVAL)

    async with anyio.create_task_group() as group:
        for index in range(len(workers)):
            group.start_soon(claim, index)
    return won


async def test_one_of_two_workers_wins_each_round(runtime: Runtime, clock: ManualClock) -> None:
    first, second = Jobs(runtime.db, clock), Jobs(runtime.db, clock)
    for _ in range(5):
        won = await claim_together(first, second)
        assert won.count(True) == 1
        winner = first if won[0] else second
        await winner.release(NAME)
        clock.advance(INTERVAL)
    assert (await lease(runtime)).runs == 5


async def test_a_round_is_run_once_even_by_its_winner(runtime: Runtime, clock: ManualClock) -> None:
    first, second = Jobs(runtime.db, clock), Jobs(runtime.db, clock)
    assert await first.claim(NAME, INTERVAL)
    await first.release(NAME)
    clock.advance(INTERVAL / 2)  # still the same interval
    assert await claim_together(first, second) == [False, False]
    row = await lease(runtime)
    assert row.runs == 1
    assert row.holder == first.holder
    assert row.due_at == datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC)


async def test_a_lease_still_held_keeps_others_out_but_not_its_holder(
    runtime: Runtime, clock: ManualClock
) -> None:
    holder, other = Jobs(runtime.db, clock), Jobs(runtime.db, clock)
    assert await holder.claim(NAME, INTERVAL)
    # Its run (or its release) has not ended when the next interval starts.
    clock.advance(INTERVAL)
    assert not await other.claim(NAME, INTERVAL)
    assert await holder.claim(NAME, INTERVAL)
    assert (await lease(runtime)).runs == 2


async def test_a_dead_workers_lease_lapses_and_another_takes_the_next_round(
    runtime: Runtime, clock: ManualClock
) -> None:
    dead, alive = Jobs(runtime.db, clock), Jobs(runtime.db, clock)
    assert await dead.claim(NAME, INTERVAL)
    # It dies mid-job: no release. One interval on its lease still holds...
    clock.advance(INTERVAL)
    assert not await alive.claim(NAME, INTERVAL)
    # ...and after the grace of another it has lapsed.
    clock.advance(INTERVAL)
    assert await alive.claim(NAME, INTERVAL)
    row = await lease(runtime)
    assert (row.holder, row.runs) == (alive.holder, 2)
    assert row.expires_at == clock.now() + timedelta(seconds=2 * INTERVAL)


async def test_a_released_lease_frees_the_next_round_for_anyone(
    runtime: Runtime, clock: ManualClock
) -> None:
    first, second = Jobs(runtime.db, clock), Jobs(runtime.db, clock)
    assert await first.claim(NAME, INTERVAL)
    await first.release(NAME)
    assert (await lease(runtime)).expires_at == clock.now()
    clock.advance(INTERVAL)
    assert await second.claim(NAME, INTERVAL)


async def test_an_unreachable_database_loses_the_round_without_raising(
    tmp_path: object, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/gamehub.db")
    try:
        with caplog.at_level(logging.ERROR, "gamehub.jobs"):
            assert not await Jobs(db, clock).claim(NAME, INTERVAL)
            await Jobs(db, clock).release(NAME)
    finally:
        await db.dispose()
    assert "test-job: could not claim this round" in caplog.text
    assert "test-job: could not release the lease" in caplog.text


async def released(runtime: Runtime, at: datetime) -> JobLease:
    """The lease once its holder has released it (its run is over)."""
    with anyio.fail_after(20):
        while True:
            async with runtime.db.unit_of_work() as session:
                row = await session.get(JobLease, NAME)
                if row is not None and row.expires_at == at:
                    return row
            await anyio.sleep(0.01)


async def test_periodic_runs_each_round_on_one_worker_and_survives_a_failing_run(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(datetime(2026, 12, 1, 12, 0, 0, 30_000, tzinfo=UTC))
    interval = 0.05
    runs: list[str] = []

    def job(worker: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            runs.append(worker)
            if len(runs) == 1:
                raise RuntimeError("the first run fails")

        return run

    first, second = Jobs(runtime.db, clock), Jobs(runtime.db, clock)
    with caplog.at_level(logging.ERROR, "gamehub.jobs"):
        async with (
            first.periodic(NAME, interval, job("first")),
            second.periodic(NAME, interval, job("second")),
        ):
            for expected in range(1, 4):
                # Both workers tick several times an interval; one runs it, then releases.
                assert (await released(runtime, clock.now())).runs == expected
                assert len(runs) == expected
                clock.advance(interval)
    assert "test-job failed; trying again next round" in caplog.text
