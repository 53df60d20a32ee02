"""The cache backend the suite is configured with (memory, or Redis when named)."""

from __future__ import annotations

import anyio

from gamehub.core.cache import get_json, set_json
from gamehub.core.runtime import Runtime


async def test_values_expire(runtime: Runtime) -> None:
    await runtime.cache.set("k", b"v", ttl_seconds=1)
    assert await runtime.cache.get("k") == b"v"
    await anyio.sleep(1.2)
    assert await runtime.cache.get("k") is None


async def test_counters_count_within_a_window_that_does_not_slide(runtime: Runtime) -> None:
    assert await runtime.cache.incr("c", ttl_seconds=1) == 1
    await anyio.sleep(0.5)
    assert await runtime.cache.incr("c", ttl_seconds=1) == 2
    await anyio.sleep(0.7)
    assert await runtime.cache.incr("c", ttl_seconds=1) == 1


async def test_concurrent_increments_are_not_lost(runtime: Runtime) -> None:
    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(runtime.cache.incr, "many", 60)
    assert await runtime.cache.get("many") == b"50"


async def test_json_round_trip_and_delete(runtime: Runtime) -> None:
    await set_json(runtime.cache, "j", {"a": [1, 2]}, 60)
    assert await get_json(runtime.cache, "j") == {"a": [1, 2]}
    remaining = await runtime.cache.ttl("j")
    assert remaining is not None
    assert 0 < remaining <= 60
    await runtime.cache.delete("j")
    assert await get_json(runtime.cache, "j") is None
    assert await runtime.cache.ttl("j") is None
