"""Redis accelerates, never decides: with a Redis of its own stopped under it, the cache,
the leaderboards, the event bus and the whole API carry on in process, and heal when
Redis returns."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
import redis.asyncio as redis
from reliability.services import Redis as ThrowawayRedis

from gamehub.app import create_app
from gamehub.core.cache import FallbackCache, RedisCache
from gamehub.core.clock import ManualClock
from gamehub.core.events import Subscription, user_topic
from gamehub.core.leaderboard_store import (
    BoardNotReady,
    FallbackLeaderboardStore,
    Increment,
    RebuildStatus,
    RedisLeaderboardStore,
    SnapshotRow,
)
from gamehub.core.redis_client import Circuit, connect
from gamehub.core.redis_events import RedisEventBus
from tests.conftest import make_settings, serve_in_process
from tests.support.api import PASSWORD, bearer, register
from tests.wallet.support import fund

SPIN = "/games/spin-and-win/play"


@pytest.fixture
async def client_of(own_redis: ThrowawayRedis) -> AsyncIterator[redis.Redis]:
    client = connect(own_redis.url, max_connections=8, pool_timeout_seconds=1)
    yield client
    await client.aclose()


def test_the_circuit_opens_on_failure_and_closes_on_success() -> None:
    clock = ManualClock()
    circuit = Circuit("test", retry_after=1.0, clock=clock)
    assert circuit.allows()
    assert not circuit.degraded
    circuit.failed(ConnectionError("refused"))
    assert circuit.degraded
    assert not circuit.allows()
    clock.advance(1.0)
    assert circuit.allows()
    circuit.succeeded()
    assert not circuit.degraded


async def test_the_cache_falls_back_to_the_process_and_pays_its_debts(
    own_redis: ThrowawayRedis, client_of: redis.Redis
) -> None:
    clock = ManualClock()
    cache = FallbackCache(RedisCache(client_of, "t:"), Circuit("cache", 1.0, clock))
    await cache.set("kept", b"before")
    assert await cache.get("kept") == b"before"

    own_redis.stop()
    # Reads fall through; what Redis held is out of reach, not an error.
    assert await cache.get("kept") is None
    assert cache.degraded()
    await cache.set("revoked:jti:abc", b"1", 600)
    await cache.delete("kept")
    assert await cache.get("revoked:jti:abc") == b"1"
    assert await cache.incr("limit", 60) == 1
    assert await cache.incr("limit", 60) == 2
    assert await cache.claim_slot("slots", "a", 1, 30)
    assert not await cache.claim_slot("slots", "b", 1, 30)

    own_redis.start()
    clock.advance(1.0)
    # Many requests meet Redis again at once: the debts are paid once, and none fails.
    found = await asyncio.gather(*(cache.get("revoked:jti:abc") for _ in range(20)))
    assert found == [b"1"] * 20
    assert not cache.degraded()
    raw = redis.Redis.from_url(own_redis.url)
    try:
        # Written during the outage, delivered once Redis answered.
        assert await raw.get("t:revoked:jti:abc") == b"1"
        assert 0 < await raw.ttl("t:revoked:jti:abc") <= 600
        assert await raw.get("t:kept") is None
    finally:
        await raw.aclose()


class PaysSlowly(RedisCache):
    """A Redis cache whose writes wait for a go-ahead, and which logs what reaches it."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        super().__init__(client, prefix)
        self.calls: list[str] = []
        self.writing = asyncio.Event()
        self.go_ahead = asyncio.Event()

    async def get(self, key: str) -> bytes | None:
        self.calls.append(f"get {key}")
        return await super().get(key)

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        self.calls.append(f"set {key}")
        self.writing.set()
        await self.go_ahead.wait()
        await super().set(key, value, ttl_seconds)


async def test_a_request_meeting_redis_while_debts_are_paid_waits_for_them(
    client_of: redis.Redis,
) -> None:
    clock = ManualClock()
    primary = PaysSlowly(client_of, f"u{uuid.uuid4().hex[:6]}:")
    cache = FallbackCache(primary, Circuit("cache", 1.0, clock))
    cache.circuit.failed(ConnectionError("down"))
    await cache.set("revoked", b"1", 600)
    clock.advance(1.0)

    paying = asyncio.create_task(cache.get("revoked"))
    await primary.writing.wait()
    meanwhile = asyncio.create_task(cache.get("revoked"))
    await asyncio.sleep(0)  # let it run to where it waits
    primary.go_ahead.set()

    assert await asyncio.gather(paying, meanwhile) == [b"1", b"1"]
    # The revocation reached Redis before either read did.
    assert primary.calls == ["set revoked", "get revoked", "get revoked"]


async def test_leaderboards_are_rebuilt_in_process_then_again_in_redis(
    own_redis: ThrowawayRedis, client_of: redis.Redis
) -> None:
    clock = ManualClock()
    store = FallbackLeaderboardStore(
        RedisLeaderboardStore(client_of, f"t{uuid.uuid4().hex[:6]}:"), Circuit("lb", 1.0, clock)
    )
    board = "all:all|*"
    rows = [SnapshotRow(1, 500, 1), SnapshotRow(2, 300, 2)]

    async def rebuild() -> None:
        assert await store.begin_rebuild(board, "tok") is RebuildStatus.ACQUIRED
        assert await store.finish_rebuild(board, "tok", rows, None)

    await rebuild()
    assert [s.user_id for s in await store.page(board, 0, 10)] == [1, 2]

    own_redis.stop()
    with pytest.raises(BoardNotReady):
        await store.page(board, 0, 10)
    await rebuild()  # from the database, into this process
    await store.apply([Increment(board, 2, 3, 400, None)])
    assert [(s.user_id, s.earnings) for s in await store.page(board, 0, 10)] == [
        (2, 700),
        (1, 500),
    ]

    own_redis.start()
    clock.advance(1.0)
    # Redis lost the board (a restart) and missed an increment: rebuilt before it answers.
    with pytest.raises(BoardNotReady):
        await store.page(board, 0, 10)
    assert not store.circuit.degraded
    await store.close()


async def test_events_reach_this_worker_while_redis_is_out(
    own_redis: ThrowawayRedis, client_of: redis.Redis
) -> None:
    clock = ManualClock()
    bus = RedisEventBus(client_of, f"t{uuid.uuid4().hex[:6]}:", circuit=Circuit("bus", 1.0, clock))
    topic = user_topic(1)

    async def next_name(subscription: Subscription) -> str:
        with anyio.fail_after(5):
            while (event := await subscription.get()) is None:
                pass
        return event.name

    try:
        live = await bus.open([topic])
        await bus.publish("before", {}, [topic])
        assert await next_name(live) == "before"

        own_redis.stop()
        await bus.publish("during", {}, [topic])
        assert await next_name(live) == "during"
        assert bus.degraded
        # A client resuming now gets live events, without a replay it cannot have.
        resumed = await bus.open([topic], after_id="1-0")
        await bus.publish("still", {}, [topic])
        assert await next_name(resumed) == "still"
        assert await next_name(live) == "still"

        own_redis.start()
        # The next publish after the circuit's pause goes through Redis again, and the
        # worker's reader, reconnected, hands it to both subscribers.
        clock.advance(1.0)
        await bus.publish("after", {}, [topic])
        assert not bus.degraded
        assert await next_name(live) == "after"
        assert await next_name(resumed) == "after"
    finally:
        await bus.close()


async def test_the_api_keeps_working_without_redis_and_heals(
    own_redis: ThrowawayRedis, database_url: str
) -> None:
    # Two workers of one deployment: the same database, Redis and key prefix.
    prefix = f"gamehub-test:{uuid.uuid4().hex[:8]}:"
    clock, other_clock = ManualClock(), ManualClock()
    application = create_app(
        make_settings(database_url, own_redis.url, redis_prefix=prefix), clock=clock
    )
    other = create_app(
        make_settings(database_url, own_redis.url, redis_prefix=prefix), clock=other_clock
    )
    async with serve_in_process(application) as client, other.lifespan():
        transport = httpx.ASGITransport(app=other, client=("127.0.0.1", 50001))
        other_client = httpx.AsyncClient(transport=transport, base_url="http://gamehub.test")
        player = await register(client)
        runtime = application.state.runtime
        await fund(runtime, player["username"], 100_000)
        leaving = await register(client)
        headers = bearer(player["access_token"])
        logged_out = bearer(leaving["access_token"])
        assert (await other_client.get("/me", headers=logged_out)).status_code == 200

        own_redis.stop()
        login = await client.post(
            "/login", json={"username": player["username"], "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        spin = await client.post(SPIN, json={"bet_amount": 10}, headers=headers)
        assert spin.status_code == 200, spin.text
        assert (await client.get("/wallet", headers=headers)).status_code == 200
        board = await client.get("/leaderboard")
        assert board.status_code == 200, board.text
        assert isinstance(board.json(), list)
        assert (await client.post("/events/ticket", headers=headers)).status_code == 201
        # Logged out on one worker while Redis is out: the other worker asks the database.
        assert (await client.post("/logout", headers=logged_out)).status_code in (200, 204)
        assert (await client.get("/me", headers=logged_out)).status_code == 401
        assert (await other_client.get("/me", headers=logged_out)).status_code == 401
        assert (await other_client.get("/me", headers=headers)).status_code == 200

        own_redis.start()
        # Each worker's cache tries Redis again a second after it last failed.
        clock.advance(1.0)
        other_clock.advance(1.0)
        assert (await client.get("/me", headers=headers)).status_code == 200
        assert not runtime.cache.degraded()
        # The revocation reached Redis: the other worker, healthy again, refuses it too.
        assert (await other_client.get("/me", headers=logged_out)).status_code == 401
        assert not other.state.runtime.cache.degraded()
        spin = await client.post(SPIN, json={"bet_amount": 10}, headers=headers)
        assert spin.status_code == 200, spin.text
        await other_client.aclose()
