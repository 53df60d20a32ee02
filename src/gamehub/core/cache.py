"""The cache backend: Redis when configured, else an in-process dictionary.

Both implement the same small interface: values with a time to live, atomic counters
(lockouts, rate limits), single-use values, leased slots (connection caps), leases
(set if absent, delete if still ours) and deletion. Redis makes them shared by every
worker; :class:`FallbackCache` keeps the platform working, per process, while Redis
cannot be reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import msgspec
from redis.exceptions import RedisError

from gamehub.core.clock import Clock, SystemClock
from gamehub.core.redis_client import UNAVAILABLE, Circuit, RedisClient

T = TypeVar("T")

# What a cache call raises when Redis is unreachable or failing; callers that can do without
# Redis (rule 11: Redis accelerates, never decides) catch these and carry on.
CACHE_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, *keys: str) -> list[bytes | None]:
        """The values of ``keys``, in order, in one round trip.

        In a Redis Cluster the keys must share a hash tag (one slot): MGET refuses keys
        of several slots.
        """
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def incr(self, key: str, ttl_seconds: int) -> int:
        """Add one and return the new count; the window starts at the first increment."""
        ...

    async def ttl(self, key: str) -> int | None:
        """Seconds until ``key`` expires; None if it is missing or never expires."""
        ...

    async def pop(self, key: str) -> bytes | None:
        """Get and delete in one step: of two concurrent callers only one gets the value."""
        ...

    async def set_if_absent(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        """Set ``key`` only if it is missing: of concurrent callers exactly one gets True.

        With a unique ``value`` this is a lease (a lock whose holder may die): it lapses
        after ``ttl_seconds`` unless released with :meth:`delete_if_equal`.
        """
        ...

    async def delete_if_equal(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only while it still holds ``value``; True if it did.

        Releases a lease without touching one a later holder took after ours lapsed.
        """
        ...

    async def claim_slot(self, key: str, holder: str, limit: int, ttl_seconds: float) -> bool:
        """Take (or renew) one of ``limit`` slots under ``key`` for ``ttl_seconds``.

        False, changing nothing, when ``limit`` other holders have live slots. A holder
        that dies without releasing loses its slot when the lease runs out.
        """
        ...

    async def release_slot(self, key: str, holder: str) -> None: ...

    def degraded(self) -> bool:
        """True while what the cache holds may be incomplete (a shared cache that could
        not be reached): callers that must not miss a revocation then ask the database."""
        ...

    async def reachable(self) -> bool:
        """Whether the shared cache answers now (a round trip; GET /readyz asks)."""
        ...

    async def close(self) -> None: ...


class MemoryCache:
    def __init__(self, clock: Clock | None = None) -> None:
        # The runtime's clock, so that a test moves time past an expiry instead of sleeping.
        self._clock = clock or SystemClock()
        # Counters are kept as ASCII digits, as Redis keeps them.
        self._items: dict[str, tuple[bytes, float | None]] = {}
        # Slot key -> holder -> lease expiry (monotonic).
        self._slots: dict[str, dict[str, float]] = {}

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= self._clock.monotonic():
            del self._items[key]
            return None
        return item

    def _expiry(self, ttl_seconds: float | None) -> float | None:
        return None if ttl_seconds is None else self._clock.monotonic() + ttl_seconds

    async def get(self, key: str) -> bytes | None:
        item = self._live(key)
        return None if item is None else item[0]

    async def get_many(self, *keys: str) -> list[bytes | None]:
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        self._items[key] = (value, self._expiry(ttl_seconds))

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._items.pop(key, None)

    async def incr(self, key: str, ttl_seconds: int) -> int:
        item = self._live(key)
        if item is None:
            self._items[key] = (b"1", self._expiry(ttl_seconds))
            return 1
        count = int(item[0]) + 1
        self._items[key] = (str(count).encode(), item[1])
        return count

    async def ttl(self, key: str) -> int | None:
        item = self._live(key)
        if item is None or item[1] is None:
            return None
        return max(0, round(item[1] - self._clock.monotonic()))

    async def pop(self, key: str) -> bytes | None:
        item = self._live(key)
        self._items.pop(key, None)
        return None if item is None else item[0]

    async def set_if_absent(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        if self._live(key) is not None:
            return False
        self._items[key] = (value, self._expiry(ttl_seconds))
        return True

    async def delete_if_equal(self, key: str, value: bytes) -> bool:
        item = self._live(key)
        if item is None or item[0] != value:
            return False
        del self._items[key]
        return True

    async def claim_slot(self, key: str, holder: str, limit: int, ttl_seconds: float) -> bool:
        now = self._clock.monotonic()
        holders = {h: t for h, t in self._slots.get(key, {}).items() if t > now}
        if holder not in holders and len(holders) >= limit:
            self._slots[key] = holders
            return False
        holders[holder] = now + ttl_seconds
        self._slots[key] = holders
        return True

    async def release_slot(self, key: str, holder: str) -> None:
        holders = self._slots.get(key)
        if holders is not None:
            holders.pop(holder, None)
            if not holders:
                del self._slots[key]

    def degraded(self) -> bool:
        return False

    async def reachable(self) -> bool:
        return True

    async def close(self) -> None:
        self._items.clear()
        self._slots.clear()


# A sorted set of holders scored by lease expiry (Redis server time, in ms), so that every
# worker judges expiry by the same clock.
_CLAIM_SLOT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
    and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
local ttl_ms = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now_ms + ttl_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return 1
"""

_DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisCache:
    def __init__(self, client: RedisClient, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._claim_slot = client.register_script(_CLAIM_SLOT)
        self._delete_if_equal = client.register_script(_DELETE_IF_EQUAL)

    def key(self, key: str) -> str:
        return self.prefix + key

    async def get(self, key: str) -> bytes | None:
        value = await self.client.get(self.key(key))
        # Without decode_responses the client returns bytes; its stubs allow str too.
        return value.encode() if isinstance(value, str) else value

    async def get_many(self, *keys: str) -> list[bytes | None]:
        values = await self.client.mget([self.key(k) for k in keys])
        return [v.encode() if isinstance(v, str) else v for v in values]

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        await self.client.set(self.key(key), value, ex=ttl_seconds)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self.client.delete(*(self.key(k) for k in keys))

    async def incr(self, key: str, ttl_seconds: int) -> int:
        full = self.key(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(full)
            # NX: set the window only when the counter is new, so it is not extended.
            pipe.expire(full, ttl_seconds, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def ttl(self, key: str) -> int | None:
        remaining = int(await self.client.ttl(self.key(key)))
        return remaining if remaining >= 0 else None

    async def pop(self, key: str) -> bytes | None:
        value = await self.client.getdel(self.key(key))
        return value.encode() if isinstance(value, str) else value

    async def set_if_absent(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        done = await self.client.set(
            self.key(key), value, px=max(1, round(ttl_seconds * 1000)), nx=True
        )
        return bool(done)

    async def delete_if_equal(self, key: str, value: bytes) -> bool:
        deleted = await self._delete_if_equal(keys=[self.key(key)], args=[value])
        return bool(deleted)

    async def claim_slot(self, key: str, holder: str, limit: int, ttl_seconds: float) -> bool:
        claimed = await self._claim_slot(
            keys=[self.key(key)], args=[holder, limit, max(1, round(ttl_seconds * 1000))]
        )
        return bool(claimed)

    async def release_slot(self, key: str, holder: str) -> None:
        await self.client.zrem(self.key(key), holder)

    def degraded(self) -> bool:
        return False

    async def reachable(self) -> bool:
        try:
            return bool(await self.client.ping())
        except UNAVAILABLE:
            return False

    async def close(self) -> None:
        await self.client.aclose()


class FallbackCache:
    """Redis, or this process's memory while Redis cannot be reached.

    During an outage every operation runs on the in-process cache, so counters and rate
    limits hold per process and single-use tickets work on the worker that issued them.
    Values set or deleted meanwhile (revocations, dropped profiles) are written to Redis
    once it answers again, before anything else is, so no worker keeps serving what
    another one revoked.
    """

    def __init__(
        self, primary: RedisCache, circuit: Circuit | None = None, clock: Clock | None = None
    ) -> None:
        self.primary = primary
        self._clock = clock or SystemClock()
        self.local = MemoryCache(self._clock)
        self.circuit = circuit or Circuit("cache", clock=self._clock)
        # key -> (value, or None for a deletion; expiry on the monotonic clock)
        self._owed: dict[str, tuple[bytes | None, float | None]] = {}
        # Held while the debts are written: a request that meets Redis meanwhile waits, so
        # it cannot read a key before the revocation owed on it has reached Redis.
        self._paying = asyncio.Lock()

    async def _either(
        self, remote: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]
    ) -> T:
        if self.circuit.allows():
            try:
                if self._owed or self._paying.locked():
                    async with self._paying:
                        if self._owed:
                            await self._settle_debts()
                result = await remote()
            except UNAVAILABLE as exc:
                self.circuit.failed(exc)
            else:
                self.circuit.succeeded()
                return result
        return await local()

    async def _settle_debts(self) -> None:
        owed, self._owed = self._owed, {}
        now = self._clock.monotonic()
        try:
            for key, (value, expires) in list(owed.items()):
                if value is None:
                    await self.primary.delete(key)
                elif expires is None:
                    await self.primary.set(key, value)
                elif expires > now:
                    await self.primary.set(key, value, max(1, round(expires - now)))
                del owed[key]
        finally:
            # What could not be written is still owed, unless written anew meanwhile.
            for key, debt in owed.items():
                self._owed.setdefault(key, debt)

    def _owe(self, key: str, value: bytes | None, ttl_seconds: int | None) -> None:
        expires = None if ttl_seconds is None else self._clock.monotonic() + ttl_seconds
        self._owed[key] = (value, expires)

    async def get(self, key: str) -> bytes | None:
        return await self._either(lambda: self.primary.get(key), lambda: self.local.get(key))

    async def get_many(self, *keys: str) -> list[bytes | None]:
        return await self._either(
            lambda: self.primary.get_many(*keys), lambda: self.local.get_many(*keys)
        )

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        async def local() -> None:
            await self.local.set(key, value, ttl_seconds)
            self._owe(key, value, ttl_seconds)

        await self._either(lambda: self.primary.set(key, value, ttl_seconds), local)

    async def delete(self, *keys: str) -> None:
        async def local() -> None:
            await self.local.delete(*keys)
            for key in keys:
                self._owe(key, None, None)

        await self._either(lambda: self.primary.delete(*keys), local)

    async def incr(self, key: str, ttl_seconds: int) -> int:
        return await self._either(
            lambda: self.primary.incr(key, ttl_seconds), lambda: self.local.incr(key, ttl_seconds)
        )

    async def ttl(self, key: str) -> int | None:
        return await self._either(lambda: self.primary.ttl(key), lambda: self.local.ttl(key))

    async def pop(self, key: str) -> bytes | None:
        return await self._either(lambda: self.primary.pop(key), lambda: self.local.pop(key))

    async def set_if_absent(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        return await self._either(
            lambda: self.primary.set_if_absent(key, value, ttl_seconds),
            lambda: self.local.set_if_absent(key, value, ttl_seconds),
        )

    async def delete_if_equal(self, key: str, value: bytes) -> bool:
        return await self._either(
            lambda: self.primary.delete_if_equal(key, value),
            lambda: self.local.delete_if_equal(key, value),
        )

    async def claim_slot(self, key: str, holder: str, limit: int, ttl_seconds: float) -> bool:
        return await self._either(
            lambda: self.primary.claim_slot(key, holder, limit, ttl_seconds),
            lambda: self.local.claim_slot(key, holder, limit, ttl_seconds),
        )

    async def release_slot(self, key: str, holder: str) -> None:
        await self._either(
            lambda: self.primary.release_slot(key, holder),
            lambda: self.local.release_slot(key, holder),
        )

    def degraded(self) -> bool:
        return self.circuit.degraded

    async def reachable(self) -> bool:
        # Past the circuit: a readiness probe asks Redis itself, not what the last call saw.
        return await self.primary.reachable()

    async def close(self) -> None:
        await self.local.close()
        await self.primary.close()


def create_cache(client: RedisClient | None, prefix: str, clock: Clock | None = None) -> Cache:
    if client is None:
        return MemoryCache(clock)
    return FallbackCache(RedisCache(client, prefix), clock=clock)


async def get_json(cache: Cache, key: str) -> Any | None:
    raw = await cache.get(key)
    return None if raw is None else msgspec.json.decode(raw)


async def set_json(cache: Cache, key: str, value: Any, ttl_seconds: int | None = None) -> None:
    await cache.set(key, msgspec.json.encode(value), ttl_seconds)


# Versioned entries: a value cached with the generation of its key it was read under, and
# trusted only while that generation is current. A change bumps the generation after its
# commit (and deletes the value), so that a reader who read the database before the
# commit and caches what it read after the deletion has cached it under a stale
# generation: the next reader ignores it. Bumping before the commit would not do: a
# reader could then pair the new generation with the old row. The generation outlives
# any value (a day against minutes), so that one cached while it was missing cannot come
# back to life when a generation created after it lapses.
GENERATION_TTL_SECONDS = 24 * 3600


# The generation of a versioned key lives under the key with this suffix.
VERSION_SUFFIX = ":gen"


def hash_tag(name: str) -> str:
    """``{name}``: the part of a key a Redis Cluster hashes (from the first ``{`` to the
    next ``}``), so that every key holding it lives in one slot and can be read together
    (MGET) or in one script. Braces in ``name`` are dropped and an empty tag is refused by
    Redis (it hashes the whole key), so the tag may be shared by several names: a key
    holds the name itself too, after its tag."""
    return "{" + (name.replace("{", "").replace("}", "") or "-") + "}"


def generation_of(raw: bytes | None) -> int:
    return 0 if raw is None else int(raw)


def versioned_value(raw: bytes | None, generation: int) -> bytes | None:
    """The value in a versioned entry ``raw``, if it was cached under ``generation``."""
    if raw is None:
        return None
    tag, _, value = raw.partition(b":")
    return value if tag == b"%d" % generation else None


async def get_versioned(cache: Cache, key: str) -> tuple[bytes | None, int]:
    """The value of ``key`` if cached under the current generation, and that generation
    (to cache a fresh value under), in one round trip. ``key`` carries a hash tag (see
    :func:`hash_tag`), which its generation's key then shares."""
    raw, raw_generation = await cache.get_many(key, key + VERSION_SUFFIX)
    generation = generation_of(raw_generation)
    return versioned_value(raw, generation), generation


async def put_versioned(
    cache: Cache, key: str, generation: int, value: bytes, ttl_seconds: float
) -> None:
    """Cache ``value``, read under ``generation``. It never overwrites (an entry there is
    judged by its own generation), and, unlike :meth:`Cache.set`, is not replayed to
    Redis after an outage, when it may be stale."""
    await cache.set_if_absent(key, b"%d:" % generation + value, ttl_seconds)


async def bump_version(cache: Cache, key: str) -> None:
    """Invalidate ``key``, after the commit of the change: the deletion is replayed to
    Redis after an outage, where a bump made meanwhile on this process's memory is not."""
    await cache.incr(key + VERSION_SUFFIX, GENERATION_TTL_SECONDS)
    await cache.delete(key)


class LocalCache:
    """A bounded map of this process's own, each value with its expiry: for reads that may
    be served briefly stale without asking Redis. The oldest entries go first when full."""

    def __init__(self, max_items: int = 10_000, clock: Clock | None = None) -> None:
        self._max_items = max_items
        self._clock = clock or SystemClock()
        self._items: dict[str, tuple[bytes, float]] = {}

    def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= self._clock.monotonic():
            self._items.pop(key, None)
            return None
        return item[0]

    def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            return
        self._items.pop(key, None)
        if len(self._items) >= self._max_items:
            del self._items[next(iter(self._items))]
        self._items[key] = (value, self._clock.monotonic() + ttl_seconds)

    def drop(self, key: str) -> None:
        self._items.pop(key, None)
