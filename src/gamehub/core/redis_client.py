"""One Redis client per process, and the circuit that lets the platform carry on without it.

``GAMEHUB_REDIS_URL`` names one server (``redis://``, ``rediss://``, ``unix://``) or, as
``redis+cluster://host:port``, any node of a Redis Cluster, from which the client learns
the others. In a cluster every key lives in one of 16384 slots, and a command or script
that touches several keys must find them all in one slot: keys used together carry the
same hash tag (the part of the key between the first ``{`` and the next ``}``; see
docs/scaling.md for which keys share which tag).

Redis accelerates, never decides: every component that uses it (cache, leaderboards,
event bus) has an in-process form to fall back on. The :class:`Circuit` is what they
share to know whether Redis is usable right now, so that an outage costs one failed call
per second and component instead of a connect timeout on every request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeAlias

import redis.asyncio as redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ClusterDownError, RedisClusterException, SlotNotCoveredError

from gamehub.core.clock import Clock, SystemClock

logger = logging.getLogger("gamehub.redis")

RedisClient: TypeAlias = redis.Redis | RedisCluster

CLUSTER_SCHEME = "redis+cluster://"

# What "Redis cannot be reached" looks like from redis-py: a refused or dropped
# connection, a time-out, a server still loading its data, or an exhausted pool; in a
# cluster also a slot that no reachable node serves.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    OSError,
    ClusterDownError,
    SlotNotCoveredError,
)
# After a failure, how long Redis is left alone before it is tried again.
RETRY_AFTER_SECONDS = 1.0


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME)


def connect(url: str, *, max_connections: int, pool_timeout_seconds: float) -> RedisClient:
    """A client whose pool waits (bounded) for a free connection instead of failing at
    its size, checks idle connections before use and retries a dropped one once."""
    if is_cluster(url):
        return _connect_cluster(
            url, max_connections=max_connections, pool_timeout_seconds=pool_timeout_seconds
        )
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


class _Cluster(RedisCluster):
    # redis-py's per-node pools do not wait: past ``max_connections`` to one node a call
    # raises MaxConnectionsError at once, which callers would take for an outage (and a
    # cache would then hand out a second, in-process, lease). So calls queue here instead,
    # as a standalone client's BlockingConnectionPool makes them: at most
    # ``max_connections`` at a time, each using at most one connection per node, and one
    # that waits longer than the pool time-out fails as an exhausted pool does.
    _calls: asyncio.Semaphore
    _call_wait_seconds: float

    def bound_calls(self, max_calls: int, wait_seconds: float) -> None:
        self._calls = asyncio.Semaphore(max_calls)
        self._call_wait_seconds = wait_seconds

    async def initialize(self, *args: Any, **kwargs: Any) -> RedisCluster:
        try:
            return await super().initialize(*args, **kwargs)
        except RedisClusterException as exc:
            # No node answered (or none would say which node serves which slots): to
            # the circuits of its callers, an outage like any other.
            raise redis.ConnectionError(f"Redis Cluster unreachable: {exc}") from exc

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.call_slot():
            # redis-py maps a command to a node before it (re)discovers the cluster, so
            # calls made while a discovery runs (the first ones, or those after a node
            # failed) use connections the discovery closes and fail or, worse, read each
            # other's replies (redis-py issue 3935): each call waits for the discovery.
            if self._initialize:
                await self.initialize()
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        # ClusterPipeline sets _event_dispatcher in its __init__; redis-py's stubs call
        # it abstract, which it is not (RedisCluster.pipeline builds one the same way).
        return _BoundPipeline(self, transaction)  # type: ignore[abstract]

    def call_slot(self) -> _CallSlot:
        return _CallSlot(self._calls, self._call_wait_seconds)


class _CallSlot:
    def __init__(self, calls: asyncio.Semaphore, wait_seconds: float) -> None:
        self._calls = calls
        self._wait_seconds = wait_seconds

    async def __aenter__(self) -> None:
        try:
            await asyncio.wait_for(self._calls.acquire(), self._wait_seconds)
        except TimeoutError:
            raise redis.ConnectionError("No connection available.") from None

    async def __aexit__(self, *exc_info: object) -> None:
        self._calls.release()


class _BoundPipeline(ClusterPipeline):
    """A pipeline whose execution takes one of its client's call slots."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        client = self.cluster_client
        assert isinstance(client, _Cluster)
        async with client.call_slot():
            return await super().execute(raise_on_error, allow_redirections)


def _connect_cluster(url: str, *, max_connections: int, pool_timeout_seconds: float) -> _Cluster:
    """A cluster client with the same time-outs and health checks, whose calls wait
    (bounded) for a free connection as a standalone client's do."""
    client = _Cluster.from_url(
        "redis://" + url.removeprefix(CLUSTER_SCHEME),
        max_connections=max_connections,
        health_check_interval=10,
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        socket_keepalive=True,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
    )
    assert isinstance(client, _Cluster)
    client.bound_calls(max_connections, pool_timeout_seconds)
    return client


async def discover(client: RedisClient) -> None:
    """Learn a cluster's nodes and slots now rather than on the first call (which would
    make the first request wait for it); a cluster out of reach is left to the circuits,
    which try again as they would after any outage."""
    if isinstance(client, RedisCluster):
        try:
            await client.initialize()
        except UNAVAILABLE as exc:
            logger.warning("Redis Cluster unreachable at start-up (%s); carrying on", exc)


class Circuit:
    """Whether Redis (or another server that accelerates, never decides: ``service``, such
    as a read replica) is worth asking: closed (usable) until a call fails, then open for
    ``retry_after`` seconds, after which the next call tries again. An outage is logged
    once, at its first failure, and once more when the service answers again."""

    def __init__(
        self,
        name: str,
        retry_after: float = RETRY_AFTER_SECONDS,
        clock: Clock | None = None,
        on_recovery: Callable[[], None] | None = None,
        *,
        service: str = "Redis",
        fallback: str = "in process",
        log: logging.Logger = logger,
    ) -> None:
        self.name = name
        self._service = service
        self._fallback = fallback
        self._log = log
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
            self._log.warning(
                "%s: %s unavailable (%s); carrying on %s",
                *(self.name, self._service, exc, self._fallback),
            )
        self._open_until = self._clock.monotonic() + self._retry_after

    def succeeded(self) -> None:
        if self._open_until is not None:
            self._open_until = None
            self._log.warning("%s: %s is back", self.name, self._service)
            if self._on_recovery is not None:
                self._on_recovery()
