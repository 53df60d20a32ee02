"""Background jobs: periodic ones, each run once per interval across all workers and
hosts, and work finished after the response.

Every worker runs each periodic job's timer, ticking on the interval's boundaries of the
runtime's clock; at each one, the workers race to claim the round in the job's row of
``job_leases`` with one conditional UPDATE, and the one whose UPDATE changed the row runs
it (docs/lifecycle.md, "Periodic jobs: once across workers"). The claim is a lease: a
worker that dies mid-job leaves it behind, it lapses after the interval and a grace of
another, and the next round goes to a worker still alive. So each job must still be safe
to run again after a run that stopped half-way (they lock what they change and look
again under the lock).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from gamehub.core import metrics
from gamehub.core.clock import Clock
from gamehub.core.db import Database
from gamehub.models import JobLease

logger = logging.getLogger("gamehub.jobs")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _slot_start(now: datetime, interval: float) -> datetime:
    """The start of the interval ``now`` is in, counted from the epoch, so that every
    worker's clock agrees on the boundaries."""
    elapsed = (now - EPOCH).total_seconds()
    return EPOCH + timedelta(seconds=elapsed - elapsed % interval)


class Jobs:
    """The periodic jobs of one worker, and their leases in the database."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        # Unique per process, and tells an operator which host and process it was.
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def periodic(
        self, name: str, interval: float, job: Callable[[], Awaitable[object]]
    ) -> AbstractAsyncContextManager[None]:
        """Run ``job`` once every ``interval`` seconds, on one worker of all, inside the
        block; 0 runs nothing."""
        return _periodic(self, name, interval, job)

    def until_next_slot(self, interval: float) -> float:
        now = self._clock.now()
        return (_slot_start(now, interval) + timedelta(seconds=interval) - now).total_seconds()

    async def claim(self, name: str, interval: float) -> bool:
        """Take this interval's round of ``name`` if it is due and nobody alive holds it;
        True if this worker is to run it. A database that cannot be reached is logged
        and counts as not won: the next round tries again."""
        now = self._clock.now()
        start = _slot_start(now, interval)
        lease = {
            "holder": self.holder,
            # A run longer than its interval keeps the next round from others for one
            # more interval; beyond that the lease is taken as dead.
            "expires_at": now + timedelta(seconds=2 * interval),
            "due_at": start + timedelta(seconds=interval),
        }
        try:
            async with self._db.unit_of_work() as session:
                # One statement decides: under concurrent claims the database serialises
                # them on the row, and the second sees due_at already moved on.
                claimed = await session.execute(
                    update(JobLease)
                    .where(
                        JobLease.name == name,
                        JobLease.due_at <= now,
                        (JobLease.expires_at <= now) | (JobLease.holder == self.holder),
                    )
                    .values(**lease, runs=JobLease.runs + 1)
                )
                if int(claimed.rowcount) == 1:  # type: ignore[attr-defined]
                    return True
                known = await session.get(JobLease, name)
            if known is not None:
                return False
            # The job's first round ever: the worker whose row goes in runs it. In a
            # transaction of its own, so that MariaDB's gap lock from the UPDATE above
            # cannot deadlock two first claims.
            async with self._db.unit_of_work() as session:
                dialect = session.get_bind().dialect.name
                first = {"name": name, **lease, "runs": 1}
                inserted = await session.execute(self._insert_if_absent(dialect, first))
                return int(inserted.rowcount) == 1  # type: ignore[attr-defined]
        except Exception:
            logger.exception("%s: could not claim this round; trying again next round", name)
            return False

    async def release(self, name: str) -> None:
        """End this worker's lease on ``name`` now that its run is over, so that a slow
        run that ends after the next boundary does not hold the round after it."""
        try:
            async with self._db.unit_of_work() as session:
                await session.execute(
                    update(JobLease)
                    .where(JobLease.name == name, JobLease.holder == self.holder)
                    .values(expires_at=self._clock.now())
                )
        except Exception:
            # The lease lapses by itself.
            logger.exception("%s: could not release the lease", name)

    @staticmethod
    def _insert_if_absent(dialect: str, row: dict[str, object]) -> Insert:
        if dialect == "postgresql":
            return postgresql.insert(JobLease).values(row).on_conflict_do_nothing()
        if dialect == "sqlite":
            return sqlite.insert(JobLease).values(row).on_conflict_do_nothing()
        # MySQL and MariaDB: IGNORE turns the duplicate into a warning.
        return mysql.insert(JobLease).values(row).prefix_with("IGNORE")


async def _every(
    name: str,
    interval: float,
    job: Callable[[], Awaitable[object]],
    jobs: Jobs,
    stopping: asyncio.Event,
) -> None:
    # As before the leases: nothing runs in a worker's first interval, so that a start
    # (or a test's short-lived app) is not busy with hourly housekeeping straight away.
    if await _stopped_within(stopping, interval):
        return
    while not await _stopped_within(stopping, jobs.until_next_slot(interval)):
        if not await jobs.claim(name, interval):
            continue
        metrics.JOB_RUNS.labels(name).inc()
        try:
            await job()
        except Exception:
            metrics.JOB_FAILURES.labels(name).inc()
            logger.exception("%s failed; trying again next round", name)
        finally:
            await jobs.release(name)


async def _stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds``, or less if the job is stopped meanwhile; whether it is."""
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stopping.wait()
    return stopping.is_set()


@asynccontextmanager
async def _periodic(
    jobs: Jobs, name: str, interval: float, job: Callable[[], Awaitable[object]]
) -> AsyncIterator[None]:
    if interval <= 0:
        yield
        return
    stopping = asyncio.Event()
    task = asyncio.create_task(_every(name, interval, job, jobs, stopping), name=name)
    try:
        yield
    finally:
        # The flag as well as the cancel: Python 3.11's asyncio.wait_for (the SQLite
        # writers' queue, gamehub.core.db) swallows a cancel that lands as the lock is
        # granted, and the loop would then run on; it stops at its next wait instead.
        stopping.set()
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


class Background:
    """Work started now and finished after the response, such as a mail whose lookup
    must not make the answer slower for a known address than for an unknown one.
    Failures are logged; :meth:`drain` waits for what is still running (at shutdown)."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Task[None]] = set()

    def spawn(self, name: str, job: Callable[[], Awaitable[object]]) -> None:
        task = asyncio.create_task(self._run(name, job), name=name)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    @staticmethod
    async def _run(name: str, job: Callable[[], Awaitable[object]]) -> None:
        try:
            await job()
        except Exception:
            logger.exception("background job %s failed", name)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
