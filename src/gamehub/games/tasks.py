"""The games' clock: pulls for a roulette player whose time ran out, and cancels rooms
that did not fill in time.

Each worker runs it; the room's row lock and a fresh look at its state make one pull
happen per overdue turn, and one cancellation per stale room, however many workers
notice it.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

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


async def expire_waiting_rooms(runtime: Runtime, now: datetime | None = None) -> int:
    """Cancel and refund the rooms still waiting for players after their time."""
    now = now or datetime.now(UTC)
    opened_before = now - timedelta(seconds=runtime.settings.roulette_waiting_room_seconds)
    async with runtime.db.unit_of_work() as session:
        due = await GameRepository(session).rooms_waiting_since(opened_before)
    expired = 0
    for room_id in due:
        async with runtime.db.unit_of_work() as session:
            if await Roulette(session, runtime).expire_if_stale(room_id, now) is not None:
                expired += 1
    return expired


async def tick(runtime: Runtime, now: datetime | None = None) -> tuple[int, int]:
    """One round of the clock: (turns pulled, rooms expired)."""
    return await pull_overdue_turns(runtime, now), await expire_waiting_rooms(runtime, now)


def turn_clock(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    return periodic(
        "roulette-clock", runtime.settings.game_jobs_interval_seconds, lambda: tick(runtime)
    )
