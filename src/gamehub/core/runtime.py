"""Everything a request or job needs that lives as long as the process.

What each part is made of (Redis or memory, which provider) is chosen in one place,
:mod:`gamehub.composition`; this module only says what a runtime holds.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TypeAlias

from litestar.di import NamedDependency

from gamehub.core.cache import Cache, LocalCache
from gamehub.core.clock import Clock
from gamehub.core.db import Database
from gamehub.core.email import Mailer
from gamehub.core.events import EventBus
from gamehub.core.jobs import Background, Jobs
from gamehub.core.leaderboard_store import LeaderboardStore
from gamehub.core.mpesa.client import DarajaClient
from gamehub.core.passwords import PasswordHashing
from gamehub.core.ratelimit import RateLimiter
from gamehub.core.replica import ReadRouting
from gamehub.core.tokens import AccessTokens
from gamehub.settings import Settings


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
    # The periodic jobs' leases: each runs once per interval across all workers.
    jobs: Jobs
    # Every "now" of the rules and jobs: tests move it instead of sleeping.
    clock: Clock
    rate_limits: RateLimiter
    # Where the display routes read: the replica, or the primary.
    replica: ReadRouting
    # Response bodies this process may serve briefly stale without asking Redis.
    reads: LocalCache = field(default_factory=LocalCache)

    async def close(self) -> None:
        # Background work may still publish, mail or use the database.
        await self.background.drain()
        await self.events.close()
        await self.leaderboards.close()
        if self.mpesa is not None:
            await self.mpesa.aclose()
        await self.mailer.drain()
        await self.cache.close()
        await self.replica.close()
        await self.db.dispose()


# The process's runtime, injected by name into handlers and dependencies.
RuntimeDep: TypeAlias = NamedDependency[Runtime]
# How a command starts (and closes) its runtime: the command line's root hands it to
# every command (click's context object), so that a domain's commands build nothing.
RuntimeStarter: TypeAlias = Callable[[], AbstractAsyncContextManager[Runtime]]
