"""The games' clock: pulls for a roulette player whose time ran out, and cancels rooms
that did not fill in time.

One worker of all runs each round (gamehub.core.jobs); the room's row lock and a fresh
look at its state make one pull happen per overdue turn, and one cancellation per stale
room, even when a round is run again after one that died half-way, or a slow round
overlaps the next.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from gamehub.core.runtime import Runtime
from gamehub.games.repository import GameRepository
from gamehub.games.roulette.service import Roulette


async def _each_room(
    runtime: Runtime,
    find: Callable[[GameRepository], Awaitable[Sequence[int]]],
    handle: Callable[[Roulette, int], Awaitable[object | None]],
) -> int:
    """Find the rooms due, then handle each in a transaction of its own (under its row
    lock, so that two workers' clocks act on a room once); returns how many acted."""
    async with runtime.db.unit_of_work() as session:
        due = await find(GameRepository(session))
    acted = 0
    for room_id in due:
        async with runtime.db.unit_of_work() as session:
            if await handle(Roulette(session, runtime), room_id) is not None:
                acted += 1
    return acted


async def pull_overdue_turns(runtime: Runtime, now: datetime | None = None) -> int:
    at = now or runtime.clock.now()
    return await _each_room(
        runtime,
        lambda repo: repo.rooms_past_deadline(at),
        lambda roulette, room_id: roulette.pull_if_overdue(room_id, at),
    )


async def expire_waiting_rooms(runtime: Runtime, now: datetime | None = None) -> int:
    """Cancel and refund the rooms still waiting for players after their time."""
    at = now or runtime.clock.now()
    opened_before = at - timedelta(seconds=runtime.settings.roulette_waiting_room_seconds)
    return await _each_room(
        runtime,
        lambda repo: repo.rooms_waiting_since(opened_before),
        lambda roulette, room_id: roulette.expire_if_stale(room_id, at),
    )


async def tick(runtime: Runtime, now: datetime | None = None) -> tuple[int, int]:
    """One round of the clock: (turns pulled, rooms expired)."""
    return await pull_overdue_turns(runtime, now), await expire_waiting_rooms(runtime, now)


def turn_clock(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    return runtime.jobs.periodic(
        "roulette-clock", runtime.settings.game_jobs_interval_seconds, lambda: tick(runtime)
    )
