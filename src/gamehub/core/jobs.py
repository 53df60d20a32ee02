"""Background jobs that every worker runs on a timer while the app lives.

Each job must be safe to run on several workers at once (they lock what they change
and look again under the lock), so no leader election is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

from gamehub.core import metrics

logger = logging.getLogger("gamehub.jobs")


async def _every(name: str, interval: float, job: Callable[[], Awaitable[object]]) -> None:
    while True:
        await asyncio.sleep(interval)
        metrics.JOB_RUNS.labels(name).inc()
        try:
            await job()
        except Exception:
            metrics.JOB_FAILURES.labels(name).inc()
            logger.exception("%s failed; trying again next round", name)


@asynccontextmanager
async def periodic(
    name: str, interval: float, job: Callable[[], Awaitable[object]]
) -> AsyncIterator[None]:
    """Run ``job`` every ``interval`` seconds inside the block; 0 runs nothing."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_every(name, interval, job), name=name)
    try:
        yield
    finally:
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
