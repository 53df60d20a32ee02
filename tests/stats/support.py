"""Players and settled results for the stats and leaderboard tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx

from gamehub.core.clock import ManualClock
from gamehub.core.runtime import Runtime
from gamehub.stats.hooks import GameResult, record_results
from tests.support.api import bearer, register


@dataclass
class Player:
    id: int
    username: str
    headers: dict[str, str]


async def players(client: httpx.AsyncClient, count: int) -> list[Player]:
    made = []
    for _ in range(count):
        body = await register(client)
        made.append(Player(body["id"], body["username"], bearer(body["access_token"])))
    return made


async def settle(
    runtime: Runtime,
    results: Sequence[tuple[Player, int, bool | None]],
    game: str = "spin-and-win",
    at: datetime | None = None,
) -> None:
    """Settle one game the way the games do: record_results in their transaction."""
    async with runtime.db.unit_of_work() as session:
        batch = [GameResult(p.id, game, earnings, won) for p, earnings, won in results]
        if at is None:
            await record_results(session, runtime, batch)
            return
        # Played at ``at``: the runtime's clock reads it while the results are recorded.
        real, runtime.clock = runtime.clock, ManualClock(at)
        try:
            await record_results(session, runtime, batch)
        finally:
            runtime.clock = real


async def forget_redis_or_memory(runtime: Runtime) -> None:
    """What a Redis FLUSHALL (or a restart of the in-process store) does to this app:
    every key under its prefix is gone. Only this test's prefix is dropped, so that
    tests running beside it on the same Redis are unharmed."""
    await runtime.leaderboards.forget()
    client = getattr(runtime.cache, "client", None)
    if client is not None:
        keys = [k async for k in client.scan_iter(f"{runtime.settings.redis_prefix}*")]
        if keys:
            await client.delete(*keys)
