"""The turn clock: pulls for a roulette player whose time ran out.

Each worker runs it; the room's row lock and a fresh look at its deadline make one
pull happen per overdue turn however many workers notice it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

from gamehub.core.runtime import Runtime
from gamehub.games.repository import GameRepository
from gamehub.games.roulette.service import Roulette

logger = logging.getLogger("gamehub.games.tasks")


async def pull_overdue_turns(runtime: Runtime, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    async with runtime.db.unit_of_work() as session:
        due = await GameRepository(session).rooms_past_deadline(now)
    pulled = 0
    for room_id in due:
        async with runtime.db.unit_of_work() as session:
            if await Roulette(session, runtime).pull_if_overdue(room_id, now) is not None:
                pulled += 1
    return pulled


async def _loop(runtime: Runtime, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await pull_overdue_turns(runtime)
        except Exception:
            logger.exception("pulling overdue turns failed; trying again next round")


@asynccontextmanager
async def turn_clock(runtime: Runtime) -> AsyncIterator[None]:
    interval = runtime.settings.game_jobs_interval_seconds
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_loop(runtime, interval), name="roulette-turn-clock")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
