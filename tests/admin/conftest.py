from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.apps import Served, served


@pytest.fixture
async def api(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    # Two failed logins lock a name, so that the unlock tests need few.
    async with served(database_url, redis_url, lockout_threshold=2) as running:
        yield running
