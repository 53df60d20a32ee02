"""The turn clock: pulls for a roulette player whose time ran out.

Each worker runs it; the room's row lock and a fresh look at its deadline make one
pull happen per overdue turn however many workers notice it.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from gamehub.core.jobs import periodic
from gamehub.core.runtime import Runtime
from gamehub.games.repository import GameRepository
from gamehub.games.roulette.service import Roulette


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


def turn_clock(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    return periodic(
        "roulette-turn-clock",
        runtime.settings.game_jobs_interval_seconds,
        lambda: pull_overdue_turns(runtime),
    )
