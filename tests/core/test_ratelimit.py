"""The rate limiter: moving windows in Redis (shared by every process) or in one
process's memory, and memory alone while Redis cannot be reached."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from gamehub.composition import start_runtime
from gamehub.core.ratelimit import RateLimited, RateLimiter
from gamehub.core.runtime import Runtime
from tests.conftest import make_settings
from tests.support.server import free_port


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, redis_url: str | None) -> str | None:
    if request.param == "memory":
        return None
    if redis_url is None:
        pytest.skip("needs GAMEHUB_TEST_REDIS_URL")
    return redis_url


async def _runtime(
    database_url: str, redis_url: str | None, **overrides: Any
) -> AsyncIterator[Runtime]:
    runtime = await start_runtime(make_settings(database_url, redis_url, **overrides))
    try:
        yield runtime
    finally:
        await runtime.close()


@pytest.fixture
async def limiter(database_url: str, backend: str | None) -> AsyncIterator[RateLimiter]:
    rates = {"deposit_phone": "3/10minute", "spin_user": "2/second", "login_ip": "5/minute;2/hour"}
    async for runtime in _runtime(database_url, backend, rate_limits=rates):
        yield runtime.rate_limits


async def _refusal(limiter: RateLimiter, name: str, caller: str) -> RateLimited:
    with pytest.raises(RateLimited) as refused:
        await limiter.hit(name, caller)
    return refused.value


async def test_a_caller_past_the_rate_is_refused_and_told_when_to_retry(
    limiter: RateLimiter,
) -> None:
    for _ in range(3):
        await limiter.hit("deposit_phone", "254700000001")
    refusal = await _refusal(limiter, "deposit_phone", "254700000001")
    assert refusal.status_code == 429
    assert refusal.limit == "deposit_phone"
    assert 590 <= refusal.retry_after <= 600
    assert refusal.headers["Retry-After"] == str(refusal.retry_after)
    assert refusal.body() == {
        "error": "RateLimited",
        "detail": refusal.detail,
        "retry_after": refusal.retry_after,
        "limit": "deposit_phone",
    }


async def test_callers_and_limits_are_counted_apart(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.hit("deposit_phone", "254700000001")
    await _refusal(limiter, "deposit_phone", "254700000001")
    # Another phone, and the same caller under another limit, are untouched.
    await limiter.hit("deposit_phone", "254700000002")
    await limiter.hit("spin_user", "254700000001")


async def test_every_rate_of_a_limit_applies(limiter: RateLimiter) -> None:
    # login_ip is 5 a minute and 2 an hour here: the hour's rate refuses the third.
    await limiter.hit("login_ip", "198.51.100.7")
    await limiter.hit("login_ip", "198.51.100.7")
    refusal = await _refusal(limiter, "login_ip", "198.51.100.7")
    assert refusal.retry_after > 3000


async def test_the_window_moves_on(limiter: RateLimiter) -> None:
    # The library reads the wall clock, so the shortest window it has (a second) passes
    # for real: the one kind of wait in the suite of the limits.
    await limiter.hit("spin_user", 7)
    await limiter.hit("spin_user", 7)
    counted = time.time()
    refusal = await _refusal(limiter, "spin_user", 7)
    assert refusal.retry_after == 1
    await anyio.sleep(max(0.0, counted + 1.05 - time.time()))
    await limiter.hit("spin_user", 7)


async def test_a_refused_request_is_not_counted(limiter: RateLimiter) -> None:
    await limiter.hit("spin_user", 8)
    await limiter.hit("spin_user", 8)
    counted = time.time()
    await anyio.sleep(0.5)
    for _ in range(3):
        await _refusal(limiter, "spin_user", 8)
    # Had the refusals (half a second later) counted, the window would still be full
    # once the two allowed ones have left it.
    await anyio.sleep(max(0.0, counted + 1.05 - time.time()))
    await limiter.hit("spin_user", 8)
    await limiter.hit("spin_user", 8)


async def test_with_redis_every_process_shares_the_count(
    database_url: str, redis_url: str | None
) -> None:
    if redis_url is None:
        pytest.skip("needs GAMEHUB_TEST_REDIS_URL")
    shared = {"redis_prefix": f"gamehub-test:limits-{uuid.uuid4().hex[:8]}:"}
    rates = {"deposit_phone": "3/10minute"}
    async for first in _runtime(database_url, redis_url, rate_limits=rates, **shared):
        async for second in _runtime(database_url, redis_url, rate_limits=rates, **shared):
            await first.rate_limits.hit("deposit_phone", "254700000003")
            await second.rate_limits.hit("deposit_phone", "254700000003")
            await first.rate_limits.hit("deposit_phone", "254700000003")
            await _refusal(second.rate_limits, "deposit_phone", "254700000003")


async def test_while_redis_is_unreachable_each_process_counts_in_memory(
    database_url: str,
) -> None:
    # Nothing listens on this port: every Redis call fails at once.
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async for runtime in _runtime(database_url, dead, rate_limits={"deposit_phone": "2/minute"}):
        limiter = runtime.rate_limits
        await limiter.hit("deposit_phone", "254700000004")
        assert limiter.circuit.degraded
        await limiter.hit("deposit_phone", "254700000004")
        await _refusal(limiter, "deposit_phone", "254700000004")
        await limiter.hit("deposit_phone", "254700000005")
