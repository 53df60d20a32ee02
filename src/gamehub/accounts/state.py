"""A user's credential state, cached: what every authenticated request checks and what
rarely changes (active, email verified, the instant before which access tokens are void).

The entry ``user-state:{id}`` holds the state with the *generation* it was read under; a
change bumps ``user-state-gen:{id}`` after its commit (and drops the entry). A reader
fetches entry and generation together and trusts the entry only if both generations
agree, so a request that read the database just before a change committed and caches
what it read afterwards has cached it under a generation that is already stale: the
next request reads the database. Bumping *before* the commit would not do: a reader
could then read the new generation with the old row. The window left is between the
commit and the bump, which the changing request closes before it answers.

The generation lives longer (a day) than an entry (a minute): an entry written under a
missing generation cannot outlive the generation created after it. The deletion also
reaches Redis after an outage (the fallback cache owes it), where a bump made meanwhile
would not. With the in-process cache a change made by another process (the command
line) is not seen until the entry lapses, so there the entries live a second.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.cache import Cache
from gamehub.core.db import after_commit
from gamehub.core.runtime import Runtime

# How long a cached state is trusted when Redis is shared by every process (a safety net:
# every change invalidates it), and when the cache is this process's own.
SHARED_STATE_TTL_SECONDS = 60
LOCAL_STATE_TTL_SECONDS = 1
GENERATION_TTL_SECONDS = 24 * 3600


class UserState(msgspec.Struct, array_like=True, frozen=True):
    is_active: bool
    email_verified: bool
    # Access tokens issued before this instant (a timestamp) are refused.
    sessions_valid_after: float | None

    @classmethod
    def of(
        cls, is_active: bool, email_verified: bool, sessions_valid_after: datetime | None
    ) -> UserState:
        valid_after = None if sessions_valid_after is None else sessions_valid_after.timestamp()
        return cls(bool(is_active), bool(email_verified), valid_after)

    def admits(self, issued_at: float) -> bool:
        """Whether a credential issued at ``issued_at`` survives what was revoked since."""
        return self.sessions_valid_after is None or issued_at >= self.sessions_valid_after


class _Cached(msgspec.Struct, array_like=True, frozen=True):
    generation: int
    state: UserState


_decoder = msgspec.json.Decoder(_Cached)


def state_key(user_id: int) -> str:
    return f"user-state:{user_id}"


def generation_key(user_id: int) -> str:
    return f"user-state-gen:{user_id}"


def generation(raw: bytes | None) -> int:
    return 0 if raw is None else int(raw)


def cached_state(raw: bytes | None, current_generation: int) -> UserState | None:
    """The state in ``raw`` if it was read under the current generation."""
    if raw is None:
        return None
    try:
        cached = _decoder.decode(raw)
    except msgspec.DecodeError:
        return None
    return cached.state if cached.generation == current_generation else None


def encode_state(read_under: int, state: UserState) -> bytes:
    return msgspec.json.encode(_Cached(read_under, state))


def state_ttl(runtime: Runtime) -> int:
    if runtime.settings.redis_url is None:
        return LOCAL_STATE_TTL_SECONDS
    return SHARED_STATE_TTL_SECONDS


async def invalidate_state(cache: Cache, user_id: int) -> None:
    await cache.incr(generation_key(user_id), GENERATION_TTL_SECONDS)
    await cache.delete(state_key(user_id))


def forget_state_after_commit(session: AsyncSession, runtime: Runtime, user_id: int) -> None:
    """Call wherever is_active, email_verified or sessions_valid_after changes."""
    cache = runtime.cache

    async def forget() -> None:
        await invalidate_state(cache, user_id)

    after_commit(session, forget)
