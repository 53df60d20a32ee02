"""One Redis client per process, and the circuit that lets the platform carry on without it.

Redis accelerates, never decides: every component that uses it (cache, leaderboards,
event bus) has an in-process form to fall back on. The :class:`Circuit` is what they
share to know whether Redis is usable right now, so that an outage costs one failed call
per second and component instead of a connect timeout on every request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from gamehub.core.clock import Clock, SystemClock

logger = logging.getLogger("gamehub.redis")

# What "Redis cannot be reached" looks like from redis-py: a refused or dropped
# connection, a time-out, a server still loading its data, or an exhausted pool.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    OSError,
)
# After a failure, how long Redis is left alone before it is tried again.
RETRY_AFTER_SECONDS = 1.0


def connect(url: str, *, max_connections: int, pool_timeout_seconds: float) -> redis.Redis:
    """A client whose pool waits (bounded) for a free connection instead of failing at
    its size, checks idle connections before use and retries a dropped one once."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout_seconds,
        # A connection idle this long is pinged before use: a server restart leaves
        # dead sockets in the pool that would otherwise fail one request each.
        health_check_interval=10,
        socket_connect_timeout=1.0,
        # Longer than the event bus's blocking read (1 s), short enough to notice a
        # server that stopped answering.
        socket_timeout=5.0,
        socket_keepalive=True,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
    return redis.Redis.from_pool(pool)


class Circuit:
    """Whether Redis is worth asking: closed (usable) until a call fails, then open for
    ``retry_after`` seconds, after which the next call tries again."""

    def __init__(
        self,
        name: str,
        retry_after: float = RETRY_AFTER_SECONDS,
        clock: Clock | None = None,
        on_recovery: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._retry_after = retry_after
        self._clock = clock or SystemClock()
        self._open_until: float | None = None
        self._on_recovery = on_recovery

    @property
    def degraded(self) -> bool:
        """True from a failure until a call succeeds again."""
        return self._open_until is not None

    def allows(self) -> bool:
        return self._open_until is None or self._clock.monotonic() >= self._open_until

    def failed(self, exc: BaseException) -> None:
        if self._open_until is None:
            logger.warning("%s: Redis unavailable (%s); carrying on in process", self.name, exc)
        self._open_until = self._clock.monotonic() + self._retry_after

    def succeeded(self) -> None:
        if self._open_until is not None:
            self._open_until = None
            logger.warning("%s: Redis is back", self.name)
            if self._on_recovery is not None:
                self._on_recovery()
