from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.matchmaking.support import key
from tests.support.apps import Served, served


@pytest.fixture
async def api(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    async with served(database_url, redis_url, leaderboard_cache_seconds=0) as running:
        yield running


@pytest.fixture
async def keys(api: Served) -> dict[str, dict[str, str]]:
    """A matchmaker's key and a game server's, whose payout limit is the default (0)."""
    return {
        "matchmaking": await key(api.runtime, "matchmaking"),
        "game-server": await key(api.runtime, "game-server"),
    }
