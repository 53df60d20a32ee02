"""Everything a request or job needs that lives as long as the process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from litestar.di import NamedDependency

from gamehub.accounts.passwords import PasswordHashing
from gamehub.accounts.tokens import AccessTokens
from gamehub.core.cache import Cache, create_cache
from gamehub.core.db import Database
from gamehub.core.email import Mailer
from gamehub.core.jobs import Background
from gamehub.core.secrets import load_secrets
from gamehub.payments.mpesa.client import DarajaClient, DarajaConfig, SharedTokenCache
from gamehub.realtime.bus import EventBus, LocalEventBus
from gamehub.realtime.redis_bus import RedisEventBus
from gamehub.settings import Settings
from gamehub.stats.store import LeaderboardStore, MemoryLeaderboardStore, RedisLeaderboardStore


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
        cache = create_cache(settings.redis_url, settings.redis_prefix)
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
            events=_event_bus(settings),
            leaderboards=(
                MemoryLeaderboardStore()
                if settings.redis_url is None
                else RedisLeaderboardStore.from_url(settings.redis_url, settings.redis_prefix)
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


def _event_bus(settings: Settings) -> EventBus:
    history = {
        "history": settings.events_history_size,
        "history_ttl_seconds": settings.events_history_ttl_seconds,
    }
    if settings.redis_url is None:
        return LocalEventBus(**history)
    return RedisEventBus.from_url(settings.redis_url, settings.redis_prefix, **history)


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
