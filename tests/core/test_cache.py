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


async def test_pop_hands_a_value_to_one_caller_only(runtime: Runtime) -> None:
    await runtime.cache.set("once", b"ticket", ttl_seconds=60)
    results = []

    async def take() -> None:
        results.append(await runtime.cache.pop("once"))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(take)
    assert sorted(results, key=lambda r: r is None) == [b"ticket"] + [None] * 9
    assert await runtime.cache.get("once") is None


async def test_slots_are_capped_renewable_and_released(runtime: Runtime) -> None:
    cache = runtime.cache
    assert await cache.claim_slot("conns", "a", limit=2, ttl_seconds=60)
    assert await cache.claim_slot("conns", "b", limit=2, ttl_seconds=60)
    assert not await cache.claim_slot("conns", "c", limit=2, ttl_seconds=60)
    # A holder renews its own slot even when the others are all taken.
    assert await cache.claim_slot("conns", "a", limit=2, ttl_seconds=60)
    await cache.release_slot("conns", "b")
    assert await cache.claim_slot("conns", "c", limit=2, ttl_seconds=60)
    assert not await cache.claim_slot("other-user", "x", limit=0, ttl_seconds=60)


async def test_a_slot_whose_holder_vanished_frees_itself(runtime: Runtime) -> None:
    cache = runtime.cache
    assert await cache.claim_slot("lease", "gone", limit=1, ttl_seconds=0.3)
    assert not await cache.claim_slot("lease", "next", limit=1, ttl_seconds=60)
    await anyio.sleep(0.5)
    assert await cache.claim_slot("lease", "next", limit=1, ttl_seconds=60)


async def test_a_lease_goes_to_one_caller_and_only_its_holder_releases_it(
    runtime: Runtime,
) -> None:
    cache = runtime.cache
    results = []

    async def take(holder: bytes) -> None:
        results.append((holder, await cache.set_if_absent("lease-key", holder, 60)))

    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(take, b"holder-%d" % n)
    (winner,) = [holder for holder, won in results if won]
    assert await cache.get("lease-key") == winner

    assert not await cache.delete_if_equal("lease-key", b"someone-else")
    assert await cache.get("lease-key") == winner
    assert await cache.delete_if_equal("lease-key", winner)
    assert await cache.get("lease-key") is None
    assert not await cache.delete_if_equal("lease-key", winner)
    assert await cache.set_if_absent("lease-key", b"next", 60)


async def test_a_lease_whose_holder_vanished_lapses(runtime: Runtime) -> None:
    cache = runtime.cache
    assert await cache.set_if_absent("lapsing", b"gone", ttl_seconds=0.3)
    assert not await cache.set_if_absent("lapsing", b"next", ttl_seconds=60)
    await anyio.sleep(0.5)
    assert await cache.set_if_absent("lapsing", b"next", ttl_seconds=60)
    # The vanished holder's late release must not free the new holder's lease.
    assert not await cache.delete_if_equal("lapsing", b"gone")
    assert await cache.get("lapsing") == b"next"
