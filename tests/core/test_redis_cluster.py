"""What a Redis Cluster asks of the keys: those a script or an MGET touches together
live in one slot (they share a hash tag), and a cluster out of reach is an outage like a
single server's. The suites of the cache, the leaderboards, the revocations and the bus
run on a real cluster in CI (GAMEHUB_TEST_REDIS_CLUSTER=1, see .ci/run)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as redis
from redis.crc import key_slot

from gamehub.accounts.service import revoked_family_key, revoked_jti_key, user_cache_key
from gamehub.accounts.state import state_key
from gamehub.core.cache import VERSION_SUFFIX, create_cache
from gamehub.core.leaderboard_store import RedisLeaderboardStore
from gamehub.core.redis_client import connect, discover, is_cluster
from gamehub.core.redis_events import RedisEventBus
from tests.conftest import free_port

PREFIX = "gamehub:"


def slots(*keys: str) -> set[int]:
    return {key_slot((PREFIX + key).encode()) for key in keys}


def test_the_keys_of_one_identity_check_share_a_slot_and_users_spread() -> None:
    """provide_identity reads them in one MGET, which a cluster refuses across slots."""
    of_user = [
        state_key(7),
        state_key(7) + VERSION_SUFFIX,
        revoked_jti_key(7, "a-jti"),
        revoked_family_key(7, "a-family"),
    ]
    assert len(slots(*of_user)) == 1
    assert len(slots(*(state_key(user_id) for user_id in range(100)))) > 50


def test_a_versioned_entry_and_its_generation_share_a_slot() -> None:
    """GET /user/{name} looks up any name, braces and all, before it knows it exists."""
    for name in ("alice", "Bob{1}", "}odd{", ""):
        key = user_cache_key(name)
        assert len(slots(key, key + VERSION_SUFFIX)) == 1
    # Names that share a tag still have keys of their own.
    assert user_cache_key("a{") != user_cache_key("a")


def test_every_stream_of_the_bus_shares_a_slot() -> None:
    bus = RedisEventBus(
        connect("redis://127.0.0.1:1/0", max_connections=1, pool_timeout_seconds=1), PREFIX
    )
    keys = [bus._stream, *(bus._topic_key(t) for t in ("user:1", "user:2", "room:9"))]
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_every_key_of_the_boards_shares_a_slot() -> None:
    store = RedisLeaderboardStore(
        connect("redis://127.0.0.1:1/0", max_connections=1, pool_timeout_seconds=1), PREFIX
    )
    keys = [
        *store._keys("all:all|*"),
        *store._keys("day:2026-12-01|spin"),
        *store._staged("w", "t"),
    ]
    assert len({key_slot(k.encode()) for k in keys}) == 1


async def test_a_cluster_out_of_reach_degrades_the_cache_instead_of_failing() -> None:
    url = f"redis+cluster://127.0.0.1:{free_port()}"
    assert is_cluster(url)
    client = connect(url, max_connections=4, pool_timeout_seconds=1)
    await discover(client)
    cache = create_cache(client, PREFIX)
    assert await cache.get("missing") is None
    assert cache.degraded()
    await cache.set("kept", b"1")
    assert await cache.get("kept") == b"1"
    await cache.close()


async def test_more_calls_than_connections_wait_their_turn_instead_of_failing(
    redis_url: str | None,
) -> None:
    """A cluster's per-node pools would refuse the ninth call outright, and the cache
    would carry on in process: a second holder of one lease."""
    if redis_url is None:
        pytest.skip("needs GAMEHUB_TEST_REDIS_URL or GAMEHUB_TEST_REDIS_CLUSTER=1")
    client = connect(redis_url, max_connections=2, pool_timeout_seconds=5)
    await discover(client)
    cache = create_cache(client, f"{PREFIX}queue-{uuid.uuid4().hex[:8]}:")
    won = await asyncio.gather(*(cache.set_if_absent("lease", b"%d" % n, 60) for n in range(40)))
    assert won.count(True) == 1
    assert not cache.degraded()
    await cache.close()


async def test_a_call_that_waits_past_the_pool_time_out_fails_as_an_exhausted_pool(
    redis_url: str | None,
) -> None:
    if redis_url is None or not is_cluster(redis_url):
        pytest.skip("the single-server pool's time-out is redis-py's own")
    client = connect(redis_url, max_connections=1, pool_timeout_seconds=0.2)
    await discover(client)
    # One call holds the only slot for a second (a blocking read on an empty stream).
    holding = asyncio.create_task(client.xread({f"{PREFIX}{{t}}empty": "$"}, block=1000))
    await asyncio.sleep(0)
    with pytest.raises(redis.ConnectionError, match="No connection available"):
        await client.get(f"{PREFIX}other")
    await holding
    assert await client.get(f"{PREFIX}other") is None
    await client.aclose()
