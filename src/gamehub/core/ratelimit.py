"""Rate limits: how many requests of one kind a caller (a client address, an account, a
phone number) may make in a window, by the `limits` library.

Each limit has a name (``deposit_phone``) and a rate from the settings
(:data:`gamehub.settings.RATE_LIMIT_DEFAULTS`, overridden by GAMEHUB_RATE_LIMITS). A route
calls :meth:`RateLimiter.hit` with the name and whom it counts; past the limit that
raises :class:`RateLimited`, a 429 with Retry-After.

Moving windows, not fixed ones: "3 per 10 minutes" then holds over every 10 minutes, so
a phone gets at most 3 prompts in any such span. A fixed window lets a caller spend one
window's allowance at its end and the next one's at the start, twice the rate in a
moment, which is the burst the limits exist to stop. The cost is a list of at most N
timestamps per key (N is small for every limit here); a refused request adds nothing, so
hammering does not push the wait further away.

With Redis configured the counts live there, shared by every worker and host (keys are
the library's, one per limit and caller, so that a cluster can place them). Redis
accelerates, never decides: while it cannot be reached, each process counts in its own
memory (fail open to a per-process limiter, the way the cache and the leaderboards carry
on), so that an outage lets through at most one allowance per process rather than
refusing every deposit and spin. The counts kept in memory meanwhile are dropped when
Redis answers again, whose own counts are the deployment's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import limits
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from gamehub.core.redis_client import UNAVAILABLE, Circuit
from gamehub.errors import TooManyRequests
from gamehub.settings import RATE_LIMIT_DEFAULTS, Settings

T = TypeVar("T")


class RateLimited(TooManyRequests):
    """Too many requests of this kind from this caller: `limit` names the limit reached
    (each is listed in the README: per client address, account or phone number), and
    `retry_after` says in how many seconds the next one is allowed."""

    limit: str

    def __init__(self, limit: str, retry_after_seconds: int) -> None:
        self.limit = limit
        super().__init__(
            f"Too many requests of this kind ({limit}); try again in "
            f"{max(1, retry_after_seconds)} s",
            retry_after_seconds,
        )


class RateLimiter:
    """Every named limit, counted in ``shared`` storage (Redis) when there is one and it
    answers, else in this process's memory."""

    def __init__(
        self,
        settings: Settings,
        shared: Storage | None = None,
        circuit: Circuit | None = None,
    ) -> None:
        self._items = {name: settings.rate_limit(name) for name in RATE_LIMIT_DEFAULTS}
        self._shared = None if shared is None else MovingWindowRateLimiter(shared)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self.circuit = circuit or Circuit("rate limits", on_recovery=self._forget_local)

    def _forget_local(self) -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, name: str, caller: str | int) -> None:
        """Count one request of ``name`` by ``caller``; past any of its rates, refuse it."""
        for item in self._items[name]:
            retry_after = await self._either(partial(_hit, item=item, name=name, caller=caller))
            if retry_after is not None:
                raise RateLimited(name, retry_after)

    async def _either(self, call: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        if self._shared is not None and self.circuit.allows():
            try:
                result = await call(self._shared)
            except UNAVAILABLE as exc:
                self.circuit.failed(exc)
            else:
                self.circuit.succeeded()
                return result
        return await call(self._local)


async def _hit(
    limiter: MovingWindowRateLimiter, *, item: limits.RateLimitItem, name: str, caller: str | int
) -> int | None:
    """None if the request fits in ``item``'s window (and is counted), else the seconds
    until it would."""
    identity = str(caller)
    if await limiter.hit(item, name, identity):
        return None
    reset_at, _ = await limiter.get_window_stats(item, name, identity)
    return max(1, math.ceil(reset_at - time.time()))
