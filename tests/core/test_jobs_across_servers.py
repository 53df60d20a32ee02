"""Two ``gamehub serve`` servers on one database (as two hosts would be): each periodic
job's round is run by one of them, and when the worker holding it is killed the other
takes over once its lease has lapsed."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import text

from gamehub.core.db import Database
from gamehub.models import JobLease
from tests.support.api import unique_name
from tests.support.server import Server, serving

# The turn clock's interval: short, so that a test sees many rounds.
INTERVAL = 0.5
JOB = "roulette-clock"


@pytest.fixture
def servers(database_url: str, redis_url: str | None) -> Iterator[tuple[Server, Server]]:
    env = {
        "GAMEHUB_DATABASE_URL": database_url,
        "GAMEHUB_JWT_SECRET": "two-servers-test-secret-" + "z" * 32,
        "GAMEHUB_GAME_JOBS_INTERVAL_SECONDS": str(INTERVAL),
    }
    if redis_url is not None:
        env |= {"GAMEHUB_REDIS_URL": redis_url, "GAMEHUB_REDIS_PREFIX": f"{unique_name('jobs')}:"}
    with ExitStack() as stack:
        yield (
            stack.enter_context(serving(env, workers=1)),
            stack.enter_context(serving(env, workers=1)),
        )


def worker_pid(server: Server) -> int:
    return int(httpx.get(f"{server.base_url}/health", timeout=10).json()["worker"])


async def lease(db: Database) -> JobLease | None:
    async with db.unit_of_work() as session:
        row = await session.get(JobLease, JOB)
        if row is not None:
            session.expunge(row)
        return row


async def lease_once(db: Database, done: object) -> JobLease:
    """Poll the job's lease until ``done(row)`` (at most a minute: a loaded machine)."""
    with anyio.fail_after(60):
        while True:
            row = await lease(db)
            if row is not None and done(row):  # type: ignore[operator]
                return row
            await anyio.sleep(0.1)


def running(pid: int) -> bool:
    """False once the process has died (a zombie left for its parent runs no more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state follows the parenthesised command name.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


async def gone(pid: int) -> None:
    with anyio.fail_after(30):
        # Another process: nothing to wait on but its state.
        while running(pid):  # noqa: ASYNC110
            await anyio.sleep(0.01)


def holder_pid(row: JobLease) -> int:
    return int(row.holder.split(":")[1])


async def test_two_servers_run_each_round_of_a_job_once(
    servers: tuple[Server, Server], database_url: str
) -> None:
    pids = {worker_pid(server) for server in servers}
    db = Database(database_url)
    try:
        start = await lease_once(db, lambda row: row.runs > 0)
        end = await lease_once(
            db, lambda row: row.due_at >= start.due_at + timedelta(seconds=12 * INTERVAL)
        )
    finally:
        await db.dispose()
    assert {holder_pid(start), holder_pid(end)} <= pids
    # Without the lease both servers would run every round: twice the intervals.
    intervals = round((end.due_at - start.due_at).total_seconds() / INTERVAL)
    assert 1 <= end.runs - start.runs <= intervals


@asynccontextmanager
async def rooms_locked(db: Database) -> AsyncIterator[bool]:
    """Lock the table the turn clock reads first, so that the round claimed next stays
    mid-job for as long as the block runs; False on SQLite, whose readers nothing blocks
    (its test kills the holder wherever it is)."""
    if db.backend == "sqlite":
        yield False
        return
    async with db.engine.connect() as connection:
        if db.backend == "postgresql":
            await connection.execute(text("LOCK TABLE roulette_rooms IN ACCESS EXCLUSIVE MODE"))
            yield True
            await connection.rollback()
        else:
            await connection.execute(text("LOCK TABLES roulette_rooms WRITE"))
            try:
                yield True
            finally:
                await connection.execute(text("UNLOCK TABLES"))


def mid_job(row: JobLease) -> bool:
    """A claimed round's lease outlasts the next boundary; a released one ended before."""
    return row.expires_at > row.due_at


async def test_when_the_holder_is_killed_mid_job_the_other_server_takes_over(
    servers: tuple[Server, Server], database_url: str
) -> None:
    db = Database(database_url)
    try:
        async with rooms_locked(db) as locked:
            held = await lease_once(db, mid_job if locked else lambda row: row.runs > 0)
            os.kill(holder_pid(held), signal.SIGKILL)
            await gone(holder_pid(held))
        # Unlocked (SQLite), the worker may have released its lease between the read and
        # the kill: what it left is what the others had to respect.
        left = await lease(db)
        if left is not None and holder_pid(left) == holder_pid(held):
            held = left
        taken = await lease_once(db, lambda row: holder_pid(row) != holder_pid(held))
        later = await lease_once(db, lambda row: row.runs > taken.runs)
    finally:
        await db.dispose()
    # Nobody took a round the dead worker's lease still held.
    assert taken.due_at > held.expires_at
    # And the jobs go on, on a worker alive.
    assert holder_pid(later) != holder_pid(held)
