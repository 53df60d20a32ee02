"""Everything a request or job needs that lives as long as the process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from litestar.di import NamedDependency

from gamehub.accounts.passwords import PasswordHashing
from gamehub.accounts.tokens import AccessTokens
from gamehub.core.cache import Cache, create_cache
from gamehub.core.db import Database
from gamehub.core.email import Mailer
from gamehub.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    cache: Cache
    mailer: Mailer
    passwords: PasswordHashing
    access_tokens: AccessTokens

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            cache=create_cache(settings.redis_url, settings.redis_prefix),
            mailer=Mailer(settings.smtp_url, settings.smtp_sender),
            passwords=PasswordHashing(
                time_cost=settings.argon2_time_cost,
                memory_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            ),
            access_tokens=AccessTokens(
                settings.jwt_secret, settings.jwt_algorithm, settings.access_token_ttl_seconds
            ),
        )

    async def close(self) -> None:
        await self.mailer.drain()
        await self.cache.close()
        await self.db.dispose()


# The process's runtime, injected by name into handlers and dependencies.
RuntimeDep: TypeAlias = NamedDependency[Runtime]
