"""One Daraja access token for the whole deployment.

Daraja keeps one live token per app and invalidates the previous one whenever it issues a
new one, so workers (and hosts) that fetched their own would keep logging each other out.
These tests run two clients as two workers would: sharing the process's token cache, or
each with its own process cache over one shared cache (Redis when GAMEHUB_TEST_REDIS_URL is
set, else the memory form), against the simulator over HTTP.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as redis

from gamehub.composition import start_runtime
from gamehub.core.cache import Cache, RedisCache, create_cache
from gamehub.core.mpesa.client import (
    DarajaClient,
    DarajaUnavailable,
    SharedTokenCache,
    StkPushAccepted,
    TokenCache,
    TokenKey,
    TokenStore,
)
from gamehub.core.redis_client import discover
from tests.conftest import REDIS_TEST_PREFIX, make_settings, redis_client
from tests.payments.conftest import SIM_ENV, Callbacks, RunningSimulator, free_port

PHONE = "0708374149"
OAUTH = "/oauth/v1/generate"
STK = "/mpesa/stkpush/v1/processrequest"
B2C = "/mpesa/b2c/v3/paymentrequest"
CALLS_PER_CLIENT = 15


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def token_key(simulator: RunningSimulator) -> TokenKey:
    return (simulator.base_url, SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_KEY"])


async def oauth_count(simulator: RunningSimulator, http: httpx.AsyncClient) -> int:
    return sum(r["path"] == OAUTH for r in await simulator.requests(http))


@pytest.fixture
async def shared_caches(redis_url: str | None) -> AsyncIterator[tuple[Cache, Cache]]:
    """Two connections to one shared cache under a fresh prefix, as two hosts would have."""
    prefix = f"{REDIS_TEST_PREFIX}{uuid.uuid4().hex[:10]}:"

    async def connected() -> Cache:
        client = None if redis_url is None else redis_client(redis_url)
        if client is not None:
            # As the runtime does at start-up: a cluster's discovery must not eat into
            # the token cache's short time-outs.
            await discover(client)
        return create_cache(client, prefix)

    first = await connected()
    # The memory form can only be shared within a process: both "hosts" hold the same one.
    second = first if redis_url is None else await connected()
    yield first, second
    await first.close()
    if second is not first:
        await second.close()


@pytest.fixture(params=["one process", "two hosts"])
def stores(
    request: pytest.FixtureRequest, shared_caches: tuple[Cache, Cache]
) -> tuple[TokenStore, TokenStore]:
    if request.param == "one process":
        tokens = TokenCache()
        return tokens, tokens
    first, second = shared_caches
    return (
        SharedTokenCache(first, fallback=TokenCache()),
        SharedTokenCache(second, fallback=TokenCache()),
    )


async def push(client: DarajaClient, callbacks: Callbacks) -> StkPushAccepted:
    return await client.stk_push(100, PHONE, "USER123", "Deposit", callbacks.url("stk"))


@pytest.mark.anyio
async def test_concurrent_calls_from_two_clients_fetch_one_token(
    simulator: RunningSimulator,
    stores: tuple[TokenStore, TokenStore],
    callbacks: Callbacks,
    http: httpx.AsyncClient,
) -> None:
    config = simulator.daraja_config()
    before = await oauth_count(simulator, http)
    async with (
        DarajaClient(config, tokens=stores[0]) as first,
        DarajaClient(config, tokens=stores[1]) as second,
    ):
        accepted = await asyncio.gather(
            *(push(client, callbacks) for client in [first, second] * CALLS_PER_CLIENT)
        )
    assert len({a.checkout_request_id for a in accepted}) == 2 * CALLS_PER_CLIENT
    assert await oauth_count(simulator, http) == before + 1
    seen = (await simulator.requests(http))[-(2 * CALLS_PER_CLIENT + 1) :]
    # No call was ever refused: nobody invalidated anybody's token.
    assert Counter((r["path"], r["status"]) for r in seen) == {
        (OAUTH, 200): 1,
        (STK, 200): 2 * CALLS_PER_CLIENT,
    }


@pytest.mark.anyio
async def test_a_token_invalidated_behind_the_clients_back_is_replaced_once(
    simulator: RunningSimulator,
    stores: tuple[TokenStore, TokenStore],
    callbacks: Callbacks,
    http: httpx.AsyncClient,
) -> None:
    config = simulator.daraja_config()
    async with (
        DarajaClient(config, tokens=stores[0]) as first,
        DarajaClient(config, tokens=stores[1]) as second,
    ):
        await push(first, callbacks)
        await push(second, callbacks)
        # Someone outside the deployment (another app instance, the portal) takes a token.
        await simulator.token(http)
        before = await oauth_count(simulator, http)
        # Every call is refused with the old token; only the first to report it refreshes,
        # the others find the new token already stored and just retry.
        await asyncio.gather(
            *(push(client, callbacks) for client in [first, second] * CALLS_PER_CLIENT)
        )
    assert await oauth_count(simulator, http) == before + 1


async def no_fetch() -> tuple[str, float]:
    raise AssertionError("the store fetched a token where it held one")


@pytest.mark.anyio
async def test_a_late_report_of_an_old_token_keeps_the_newer_one(
    simulator: RunningSimulator,
    stores: tuple[TokenStore, TokenStore],
    callbacks: Callbacks,
    http: httpx.AsyncClient,
) -> None:
    key = token_key(simulator)
    config = simulator.daraja_config()
    async with (
        DarajaClient(config, tokens=stores[0]) as first,
        DarajaClient(config, tokens=stores[1]) as second,
    ):
        await push(first, callbacks)
        old = await stores[1].get(key, no_fetch)
        await simulator.token(http)
        await push(first, callbacks)  # refused, refreshed, retried
        new = await stores[0].get(key, no_fetch)
        assert new != old
        before = await oauth_count(simulator, http)
        # The second worker's call with the old token was in flight and is refused only now.
        await stores[1].invalidate(key, old)
        assert await stores[1].get(key, no_fetch) == new
        await push(second, callbacks)
    assert await oauth_count(simulator, http) == before


@pytest.mark.anyio
async def test_a_refused_payout_is_retried_with_the_same_identity(
    simulator: RunningSimulator,
    stores: tuple[TokenStore, TokenStore],
    callbacks: Callbacks,
    http: httpx.AsyncClient,
) -> None:
    originator = f"gh-{uuid.uuid4().hex}"
    async with DarajaClient(simulator.daraja_config(), tokens=stores[0]) as daraja:
        await push(daraja, callbacks)
        await simulator.token(http)
        accepted = await daraja.b2c_payment(
            originator,
            100,
            PHONE,
            "withdrawal",
            None,
            callbacks.url("result"),
            callbacks.url("timeout"),
        )
    assert accepted.originator_conversation_id == originator
    refused, fetched, sent = (await simulator.requests(http))[-3:]
    assert [(r["path"], r["status"]) for r in (refused, fetched, sent)] == [
        (B2C, 404),
        (OAUTH, 200),
        (B2C, 200),
    ]
    assert sent["body"] == refused["body"]
    assert sent["body"]["OriginatorConversationID"] == originator


@pytest.mark.anyio
async def test_a_lease_left_by_a_dead_holder_lapses_and_a_waiter_fetches(
    simulator: RunningSimulator,
    shared_caches: tuple[Cache, Cache],
    callbacks: Callbacks,
    http: httpx.AsyncClient,
) -> None:
    cache = shared_caches[0]
    key = token_key(simulator)
    # A process took the lease and died before storing a token or releasing it.
    assert await cache.set_if_absent(SharedTokenCache.lease_key(key), b"dead", ttl_seconds=0.3)
    tokens = SharedTokenCache(cache, fallback=TokenCache(), lease_seconds=1.0, poll_seconds=0.02)
    before = await oauth_count(simulator, http)
    async with DarajaClient(simulator.daraja_config(), tokens=tokens) as daraja:
        await push(daraja, callbacks)
    assert await oauth_count(simulator, http) == before + 1
    assert await cache.get(SharedTokenCache.token_key(key)) is not None
    # The waiter that took over released its own lease once the token was stored.
    assert await cache.get(SharedTokenCache.lease_key(key)) is None


@pytest.mark.anyio
async def test_a_waiter_gives_up_on_a_holder_that_never_finishes(
    simulator: RunningSimulator, shared_caches: tuple[Cache, Cache], http: httpx.AsyncClient
) -> None:
    cache = shared_caches[0]
    key = token_key(simulator)
    assert await cache.set_if_absent(SharedTokenCache.lease_key(key), b"stuck", ttl_seconds=60)
    tokens = SharedTokenCache(cache, fallback=TokenCache(), lease_seconds=0.2, poll_seconds=0.02)
    before = await oauth_count(simulator, http)
    async with DarajaClient(simulator.daraja_config(), tokens=tokens) as daraja:
        with pytest.raises(DarajaUnavailable, match="another process is fetching"):
            await daraja.stk_query("ws_CO_unknown")
    # Nothing was fetched behind the holder's back, and nothing was sent without a token.
    assert await oauth_count(simulator, http) == before


@pytest.mark.anyio
async def test_with_redis_unreachable_the_process_keeps_its_own_token(
    simulator: RunningSimulator, callbacks: Callbacks, http: httpx.AsyncClient
) -> None:
    unreachable = RedisCache(redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0"), "x:")
    tokens = SharedTokenCache(unreachable, fallback=TokenCache())
    before = await oauth_count(simulator, http)
    async with DarajaClient(simulator.daraja_config(), tokens=tokens) as daraja:
        await push(daraja, callbacks)
        await push(daraja, callbacks)
        assert await oauth_count(simulator, http) == before + 1
        # And a token refused meanwhile is still replaced.
        await simulator.token(http)
        await push(daraja, callbacks)
    assert await oauth_count(simulator, http) == before + 3
    await unreachable.close()


@pytest.mark.anyio
async def test_a_redis_that_never_answers_does_not_hold_payments_up(
    simulator: RunningSimulator, callbacks: Callbacks
) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def accept_and_ignore(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept_and_ignore, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    silent = RedisCache(redis.Redis.from_url(f"redis://127.0.0.1:{port}/0"), "x:")
    tokens = SharedTokenCache(silent, fallback=TokenCache(), cache_timeout_seconds=0.2)
    async with DarajaClient(simulator.daraja_config(), tokens=tokens) as daraja:
        accepted = await push(daraja, callbacks)
    assert accepted.checkout_request_id.startswith("ws_CO_")
    assert connections, "the client never reached the silent server"
    for writer in connections:
        writer.close()
    server.close()
    await server.wait_closed()
    await silent.close()


@pytest.mark.anyio
async def test_the_runtime_shares_the_token_through_redis_when_configured(
    simulator: RunningSimulator,
    database_url: str,
    redis_url: str | None,
    callbacks: Callbacks,
) -> None:
    settings = make_settings(
        database_url,
        redis_url,
        mpesa_base_url=simulator.base_url,
        mpesa_consumer_key=SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_KEY"],
        mpesa_consumer_secret=SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_SECRET"],
        mpesa_shortcode=SIM_ENV["GAMEHUB_MPESA_SIM_SHORTCODE"],
        mpesa_passkey=SIM_ENV["GAMEHUB_MPESA_SIM_PASSKEY"],
        mpesa_certificate_path=str(simulator.certificate_path),
        mpesa_callback_secret="token-sharing-test-secret-0123456789",
    )
    runtime = await start_runtime(settings)
    try:
        assert runtime.mpesa is not None
        await push(runtime.mpesa, callbacks)
        stored = await runtime.cache.get(SharedTokenCache.token_key(token_key(simulator)))
    finally:
        await runtime.close()
    # Under the deployment's prefix with Redis; without it the process's cache holds it.
    assert (stored is not None) == (redis_url is not None)
