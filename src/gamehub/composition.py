"""The composition root: what the app and every command line build their runtime from.

It is the one place that chooses implementations (Redis or this process's memory, the
Daraja client or none, the real clock) from the settings; everything below it only
sees the :class:`~gamehub.core.runtime.Runtime` it hands out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from limits.aio.storage import RedisClusterStorage, RedisStorage
from redis.asyncio.cluster import RedisCluster

from gamehub.core.cache import Cache, LocalCache, create_cache
from gamehub.core.clock import Clock, SystemClock
from gamehub.core.db import Database
from gamehub.core.email import Mailer
from gamehub.core.events import EventBus, LocalEventBus, check_payloads_with
from gamehub.core.jobs import Background, Jobs
from gamehub.core.leaderboard_store import (
    FallbackLeaderboardStore,
    LeaderboardStore,
    MemoryLeaderboardStore,
    RedisLeaderboardStore,
)
from gamehub.core.mpesa.client import DarajaClient, DarajaConfig, SharedTokenCache
from gamehub.core.passwords import PasswordHashing
from gamehub.core.ratelimit import RateLimiter
from gamehub.core.redis_client import Circuit, RedisClient, connect, discover
from gamehub.core.redis_events import RedisEventBus
from gamehub.core.replica import ReadRouting
from gamehub.core.runtime import Runtime
from gamehub.core.secrets import load_secrets
from gamehub.core.tokens import AccessTokens
from gamehub.realtime.events import payload
from gamehub.settings import Settings, get_settings


async def start_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    """The runtime of an app or a CLI command, with the install's secrets resolved
    (configured, or the ones generated on the first start), so that all agree."""
    # Every event published is built with its struct of docs/events.md.
    check_payloads_with(payload)
    clock = clock or SystemClock()
    db = Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    try:
        settings = await load_secrets(db, settings)
    except BaseException:
        await db.dispose()
        raise
    # One pool for the cache, the leaderboards and the event bus.
    shared = (
        None
        if settings.redis_url is None
        else connect(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            pool_timeout_seconds=settings.redis_pool_timeout_seconds,
        )
    )
    if shared is not None:
        await discover(shared)
    cache = create_cache(shared, settings.redis_prefix, clock)
    read_url = settings.database_read_url
    return Runtime(
        settings=settings,
        db=db,
        cache=cache,
        mailer=Mailer(
            settings.smtp_url,
            settings.smtp_sender,
            log_bodies=settings.environment == "development",
        ),
        passwords=PasswordHashing(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        access_tokens=AccessTokens(
            settings.jwt_secret, settings.jwt_algorithm, settings.access_token_ttl_seconds, clock
        ),
        mpesa=_daraja_client(settings, cache),
        events=_event_bus(settings, shared, clock),
        leaderboards=_leaderboards(settings, shared, clock),
        background=Background(),
        jobs=Jobs(db, clock),
        clock=clock,
        reads=LocalCache(clock=clock),
        rate_limits=_rate_limits(settings, shared),
        replica=ReadRouting(
            None
            if read_url is None
            else Database(
                read_url,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_max_overflow,
            ),
            window_seconds=settings.read_after_write_seconds,
            # With Redis, a write on one worker is known to all (docs/scaling.md).
            marks=cache,
            clock=clock,
        ),
    )


@asynccontextmanager
async def running(
    settings: Settings | None = None, *, clock: Clock | None = None
) -> AsyncIterator[Runtime]:
    """``async with running() as runtime``: a command line's runtime, closed after it."""
    runtime = await start_runtime(settings or get_settings(), clock=clock)
    try:
        yield runtime
    finally:
        await runtime.close()


def _event_bus(settings: Settings, shared: RedisClient | None, clock: Clock) -> EventBus:
    history, ttl = settings.events_history_size, settings.events_history_ttl_seconds
    if shared is None:
        return LocalEventBus(history=history, history_ttl_seconds=ttl, clock=clock)
    return RedisEventBus(
        shared,
        settings.redis_prefix,
        history=history,
        history_ttl_seconds=ttl,
        circuit=Circuit("event bus", clock=clock),
    )


def _leaderboards(settings: Settings, shared: RedisClient | None, clock: Clock) -> LeaderboardStore:
    if shared is None:
        return MemoryLeaderboardStore(clock)
    return FallbackLeaderboardStore(
        RedisLeaderboardStore(shared, settings.redis_prefix), clock=clock
    )


def _rate_limits(settings: Settings, shared: RedisClient | None) -> RateLimiter:
    if shared is None:
        return RateLimiter(settings)
    prefix = f"{settings.redis_prefix}limits"
    storage: RedisStorage | RedisClusterStorage
    if isinstance(shared, RedisCluster):
        # A cluster client's pools are per node, which the library cannot borrow: its
        # cluster storage keeps connections of its own (each limit is one key, one slot).
        url = settings.redis_url
        assert url is not None  # a shared client exists only for a Redis URL
        storage = RedisClusterStorage(f"async+{url}", implementation="redispy", key_prefix=prefix)
    else:
        # The library's Redis storage on the runtime's own pool: the same timeouts and the
        # same connection budget as the cache; its keys carry the deployment's prefix.
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=prefix,
            # The library documents connection_pool among its options, typed narrower.
            connection_pool=shared.connection_pool,  # type: ignore[arg-type]
        )
    return RateLimiter(settings, storage)


def _daraja_client(settings: Settings, cache: Cache) -> DarajaClient | None:
    if settings.mpesa_base_url is None:
        return None
    # Daraja keeps one live token per app, so with Redis every worker and host shares it;
    # without Redis there is one worker, and the process's cache is the whole deployment's.
    tokens = None
    if settings.redis_url is not None:
        # Long enough for the holder's whole fetch (connect, send, read: the client's timeouts),
        # so that no second process fetches while the first still waits for its answer.
        timeout = settings.mpesa_timeout_seconds
        tokens = SharedTokenCache(cache, lease_seconds=min(timeout, 5.0) + 2 * timeout)
    return DarajaClient(
        DarajaConfig(
            base_url=settings.mpesa_base_url,
            consumer_key=settings.mpesa_consumer_key,
            consumer_secret=settings.mpesa_consumer_secret,
            shortcode=settings.mpesa_shortcode,
            passkey=settings.mpesa_passkey,
            b2c_shortcode=settings.mpesa_b2c_shortcode,
            initiator_name=settings.mpesa_initiator_name,
            initiator_password=settings.mpesa_initiator_password,
            certificate_path=Path(settings.mpesa_certificate_path),
            timeout_seconds=settings.mpesa_timeout_seconds,
        ),
        tokens=tokens,
    )
