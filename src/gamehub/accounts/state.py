"""A user's credential state, cached: what every authenticated request checks and what
rarely changes (active, email verified, the instant before which access tokens are void).

A versioned cache entry (see :func:`gamehub.core.cache.get_versioned`): every change
bumps it after its commit, before the changing request answers, so the next request on
any worker reads the database. With the in-process cache a change made by another
process (the command line) cannot reach it, so there an entry lives one second.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.cache import bump_version, hash_tag
from gamehub.core.db import Phase, after_commit
from gamehub.core.runtime import Runtime

# How long a cached state is trusted when Redis is shared by every process (a safety net:
# every change invalidates it), and when the cache is this process's own.
SHARED_STATE_TTL_SECONDS = 60
LOCAL_STATE_TTL_SECONDS = 1


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


_decoder = msgspec.json.Decoder(UserState)


def user_tag(user_id: int) -> str:
    """The hash tag of the keys that one user's identity check reads together."""
    return hash_tag(f"u{user_id}")


def state_key(user_id: int) -> str:
    return f"user-state:{user_tag(user_id)}"


def decode_state(raw: bytes) -> UserState | None:
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError:
        return None


def encode_state(state: UserState) -> bytes:
    return msgspec.json.encode(state)


def state_ttl(runtime: Runtime) -> int:
    if runtime.settings.redis_url is None:
        return LOCAL_STATE_TTL_SECONDS
    return SHARED_STATE_TTL_SECONDS


def forget_state_after_commit(session: AsyncSession, runtime: Runtime, user_id: int) -> None:
    """Call wherever is_active, email_verified or sessions_valid_after changes."""
    cache = runtime.cache

    async def forget() -> None:
        await bump_version(cache, state_key(user_id))

    after_commit(session, forget, phase=Phase.STATE)
