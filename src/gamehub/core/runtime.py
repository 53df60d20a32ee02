"""Everything a request or job needs that lives as long as the process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import redis.asyncio as redis
from litestar.di import NamedDependency

from gamehub.accounts.passwords import PasswordHashing
from gamehub.accounts.tokens import AccessTokens
from gamehub.core.cache import Cache, LocalCache, create_cache
from gamehub.core.db import Database
from gamehub.core.email import Mailer
from gamehub.core.jobs import Background
from gamehub.core.redis_client import connect
from gamehub.core.secrets import load_secrets
from gamehub.payments.mpesa.client import DarajaClient, DarajaConfig, SharedTokenCache
from gamehub.realtime.bus import EventBus, LocalEventBus
from gamehub.realtime.redis_bus import RedisEventBus
from gamehub.settings import Settings
from gamehub.stats.store import (
    FallbackLeaderboardStore,
    LeaderboardStore,
    MemoryLeaderboardStore,
    RedisLeaderboardStore,
)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    cache: Cache
    mailer: Mailer
    passwords: PasswordHashing
    access_tokens: AccessTokens
    # None when M-Pesa is not configured: payments then answer 503.
    mpesa: DarajaClient | None
    events: EventBus
    leaderboards: LeaderboardStore
    background: Background
    # Response bodies this process may serve briefly stale without asking Redis.
    reads: LocalCache = field(default_factory=LocalCache)

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        """The runtime of an app or a CLI command, with the install's secrets resolved
        (configured, or the ones generated on the first start), so that all agree."""
        db = Database(settings.database_url)
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
        cache = create_cache(shared, settings.redis_prefix)
        return cls(
            settings=settings,
            db=db,
            cache=cache,
            mailer=Mailer(settings.smtp_url, settings.smtp_sender),
            passwords=PasswordHashing(
                time_cost=settings.argon2_time_cost,
                memory_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            ),
            access_tokens=AccessTokens(
                settings.jwt_secret, settings.jwt_algorithm, settings.access_token_ttl_seconds
            ),
            mpesa=_daraja_client(settings, cache),
            events=_event_bus(settings, shared),
            leaderboards=(
                MemoryLeaderboardStore()
                if shared is None
                else FallbackLeaderboardStore(RedisLeaderboardStore(shared, settings.redis_prefix))
            ),
            background=Background(),
        )

    async def close(self) -> None:
        # Background work may still publish, mail or use the database.
        await self.background.drain()
        await self.events.close()
        await self.leaderboards.close()
        if self.mpesa is not None:
            await self.mpesa.aclose()
        await self.mailer.drain()
        await self.cache.close()
        await self.db.dispose()


def _event_bus(settings: Settings, shared: redis.Redis | None) -> EventBus:
    history, ttl = settings.events_history_size, settings.events_history_ttl_seconds
    if shared is None:
        return LocalEventBus(history=history, history_ttl_seconds=ttl)
    return RedisEventBus(shared, settings.redis_prefix, history=history, history_ttl_seconds=ttl)


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


# The process's runtime, injected by name into handlers and dependencies.
RuntimeDep: TypeAlias = NamedDependency[Runtime]
