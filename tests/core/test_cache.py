"""The cache backend the suite is configured with (memory, or Redis when named), on a
clock the test moves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import pytest

from gamehub.core.cache import Cache, FallbackCache, create_cache, get_json, set_json
from gamehub.core.clock import ManualClock
from gamehub.core.redis_client import connect, discover
from tests.conftest import REDIS_TEST_PREFIX


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def cache(redis_url: str | None, clock: ManualClock) -> AsyncIterator[Cache]:
    client = None
    if redis_url is not None:
        client = connect(redis_url, max_connections=8, pool_timeout_seconds=1)
        # As the runtime does at start-up: a cluster client's first calls, racing its
        # discovery of the nodes, could both win a SET NX (redis-py issue 3935).
        await discover(client)
    made = create_cache(client, f"{REDIS_TEST_PREFIX}{uuid.uuid4().hex[:10]}:", clock)
    yield made
    await made.close()


async def let_pass(cache: Cache, clock: ManualClock, seconds: float, *keys: str) -> None:
    """Let ``seconds`` pass for ``keys``. The memory cache reads the clock; Redis keeps its
    own time, so there each key's expiry and each slot's lease end (scored in Redis's time)
    are moved that much nearer, which Redis then applies as it would have."""
    clock.advance(seconds)
    if not isinstance(cache, FallbackCache):
        return
    client, millis = cache.primary.client, round(seconds * 1000)
    for key in keys:
        full = cache.primary.key(key)
        if await client.type(full) == b"zset":
            for holder, lease_end in await client.zrange(full, 0, -1, withscores=True):
                await client.zadd(full, {holder: lease_end - millis})
        remaining = int(await client.pttl(full))
        if remaining > millis:
            await client.pexpire(full, remaining - millis)
        elif remaining >= 0:
            await client.delete(full)


async def test_values_expire(cache: Cache, clock: ManualClock) -> None:
    await cache.set("k", b"v", ttl_seconds=60)
    await let_pass(cache, clock, 59, "k")
    assert await cache.get("k") == b"v"
    await let_pass(cache, clock, 1, "k")
    assert await cache.get("k") is None


async def test_counters_count_within_a_window_that_does_not_slide(
    cache: Cache, clock: ManualClock
) -> None:
    assert await cache.incr("c", ttl_seconds=10) == 1
    await let_pass(cache, clock, 5, "c")
    assert await cache.incr("c", ttl_seconds=10) == 2
    # Ten seconds after the first increment, not the second, the window closes.
    await let_pass(cache, clock, 5, "c")
    assert await cache.incr("c", ttl_seconds=10) == 1


async def test_concurrent_increments_are_not_lost(cache: Cache) -> None:
    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(cache.incr, "many", 60)
    assert await cache.get("many") == b"50"


async def test_json_round_trip_and_delete(cache: Cache) -> None:
    await set_json(cache, "j", {"a": [1, 2]}, 60)
    assert await get_json(cache, "j") == {"a": [1, 2]}
    remaining = await cache.ttl("j")
    assert remaining is not None
    assert 0 < remaining <= 60
    await cache.delete("j")
    assert await get_json(cache, "j") is None
    assert await cache.ttl("j") is None


async def test_pop_hands_a_value_to_one_caller_only(cache: Cache) -> None:
    await cache.set("once", b"ticket", ttl_seconds=60)
    results = []

    async def take() -> None:
        results.append(await cache.pop("once"))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(take)
    assert sorted(results, key=lambda r: r is None) == [b"ticket"] + [None] * 9
    assert await cache.get("once") is None


async def test_slots_are_capped_renewable_and_released(cache: Cache) -> None:
    assert await cache.claim_slot("conns", "a", limit=2, ttl_seconds=60)
    assert await cache.claim_slot("conns", "b", limit=2, ttl_seconds=60)
    assert not await cache.claim_slot("conns", "c", limit=2, ttl_seconds=60)
    # A holder renews its own slot even when the others are all taken.
    assert await cache.claim_slot("conns", "a", limit=2, ttl_seconds=60)
    await cache.release_slot("conns", "b")
    assert await cache.claim_slot("conns", "c", limit=2, ttl_seconds=60)
    assert not await cache.claim_slot("other-user", "x", limit=0, ttl_seconds=60)


async def test_a_slot_whose_holder_vanished_frees_itself(cache: Cache, clock: ManualClock) -> None:
    assert await cache.claim_slot("lease", "gone", limit=1, ttl_seconds=30)
    await let_pass(cache, clock, 29, "lease")
    assert not await cache.claim_slot("lease", "next", limit=1, ttl_seconds=60)
    await let_pass(cache, clock, 1, "lease")
    assert await cache.claim_slot("lease", "next", limit=1, ttl_seconds=60)


async def test_a_lease_goes_to_one_caller_and_only_its_holder_releases_it(
    cache: Cache,
) -> None:
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


async def test_a_lease_whose_holder_vanished_lapses(cache: Cache, clock: ManualClock) -> None:
    assert await cache.set_if_absent("lapsing", b"gone", ttl_seconds=30)
    await let_pass(cache, clock, 29, "lapsing")
    assert not await cache.set_if_absent("lapsing", b"next", ttl_seconds=60)
    await let_pass(cache, clock, 1, "lapsing")
    assert await cache.set_if_absent("lapsing", b"next", ttl_seconds=60)
    # The vanished holder's late release must not free the new holder's lease.
    assert not await cache.delete_if_equal("lapsing", b"gone")
    assert await cache.get("lapsing") == b"next"
