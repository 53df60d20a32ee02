"""Login locks: per (name, client address), a slower lock of the name from everywhere,
the same for names nobody has, and `gamehub user unlock`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from gamehub.accounts.tasks import purge_login_failures
from gamehub.admin.service import unlock_user
from gamehub.errors import NotFound
from gamehub.models import LoginFailure
from tests.support.api import PASSWORD, Client, login, register, unique_name
from tests.support.apps import Served, served

# The test client connects from 127.0.0.1; trusting it as a proxy lets each request
# name its client address in X-Forwarded-For.
PROXY = "127.0.0.1"


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def _attempt(
    client: Client, username: str, address: str, password: str = "wrong!!!"
) -> httpx.Response:
    return await client.post(
        "/login", json={"username": username, "password": password}, headers=_from(address)
    )


async def _fail(client: Client, username: str, address: str, times: int) -> list[int]:
    return [(await _attempt(client, username, address)).status_code for _ in range(times)]


@pytest.fixture
async def behind_proxy(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    async with served(
        database_url,
        redis_url,
        trusted_proxies=[PROXY],
        lockout_threshold=3,
        lockout_global_threshold=5,
    ) as running:
        yield running


async def test_failures_lock_the_name_from_that_address_only(behind_proxy: Served) -> None:
    client = behind_proxy.client
    victim = await register(client)
    name = victim["username"]
    assert await _fail(client, name, "203.0.113.7", 3) == [401] * 3
    locked = await _attempt(client, name, "203.0.113.7", PASSWORD)
    assert locked.status_code == 429
    assert 850 <= int(locked.headers["Retry-After"]) <= 900
    # The owner, elsewhere, is not locked out by a stranger's guesses.
    owner = await _attempt(client, name, "198.51.100.20", PASSWORD)
    assert owner.status_code == 200, owner.text


async def test_a_name_nobody_has_locks_exactly_like_a_real_one(behind_proxy: Served) -> None:
    client = behind_proxy.client
    real = (await register(client))["username"]
    unknown = unique_name()
    refusals = []
    for name in (real, unknown):
        assert await _fail(client, name, "203.0.113.8", 3) == [401] * 3
        refusals.append(await _attempt(client, name, "203.0.113.8", PASSWORD))
    assert [r.status_code for r in refusals] == [429, 429]
    assert refusals[0].json() == refusals[1].json()
    real_wait, unknown_wait = (int(r.headers["Retry-After"]) for r in refusals)
    assert abs(real_wait - unknown_wait) <= 1


async def test_many_addresses_together_lock_the_name_for_everyone(behind_proxy: Served) -> None:
    client = behind_proxy.client
    name = (await register(client))["username"]
    # Five addresses, one failure each: under the per-address threshold every time.
    for n in range(5):
        assert await _fail(client, name, f"192.0.2.{n + 1}", 1) == [401]
    fresh_address = await _attempt(client, name, "198.51.100.99", PASSWORD)
    assert fresh_address.status_code == 429


async def test_a_success_clears_that_address_but_not_the_count_from_everywhere(
    behind_proxy: Served,
) -> None:
    client = behind_proxy.client
    name = (await register(client))["username"]
    assert await _fail(client, name, "203.0.113.9", 2) == [401, 401]
    assert (await _attempt(client, name, "203.0.113.9", PASSWORD)).status_code == 200
    assert await _fail(client, name, "203.0.113.9", 2) == [401, 401]
    assert (await _attempt(client, name, "203.0.113.9", PASSWORD)).status_code == 200
    # Four failures in all count towards the name's lock from every address (five).
    assert await _fail(client, name, "203.0.113.10", 1) == [401]
    assert (await _attempt(client, name, "203.0.113.11", PASSWORD)).status_code == 429


async def test_unlock_clears_every_lock_of_the_account(behind_proxy: Served) -> None:
    client, runtime = behind_proxy.client, behind_proxy.runtime
    name = unique_name()
    email = f"{name}@example.com"
    await register(client, name, email=email)
    assert await _fail(client, name, "203.0.113.12", 3) == [401] * 3
    assert await _fail(client, email, "203.0.113.13", 3) == [401] * 3
    for login_name, address in ((name, "203.0.113.12"), (email, "203.0.113.13")):
        assert (await _attempt(client, login_name, address, PASSWORD)).status_code == 429
    cleared = await unlock_user(runtime, name.upper(), "ops")
    # Two (name, address) pairs and two from-everywhere counts.
    assert cleared == 4
    for login_name, address in ((name, "203.0.113.12"), (email, "203.0.113.13")):
        assert (await _attempt(client, login_name, address, PASSWORD)).status_code == 200


async def test_unlocking_nobody_is_an_error(behind_proxy: Served) -> None:
    with pytest.raises(NotFound):
        await unlock_user(behind_proxy.runtime, unique_name(), "ops")


async def test_a_password_change_lifts_the_locks_strangers_caused(
    app_factory: Any,
) -> None:
    async with app_factory(trusted_proxies=[PROXY], lockout_threshold=2) as client:
        account = await register(client)
        name = account["username"]
        assert await _fail(client, name, "203.0.113.14", 2) == [401, 401]
        changed = await client.post(
            "/password/change",
            headers={"Authorization": f"Bearer {account['access_token']}"},
            json={"current_password": PASSWORD, "new_password": "Brand-New-Pass-77"},
        )
        assert changed.status_code == 200
        await login(client, name, "Brand-New-Pass-77")
        assert (
            await _attempt(client, name, "203.0.113.14", "Brand-New-Pass-77")
        ).status_code == 200


async def test_finished_windows_are_purged_but_locks_in_force_are_kept(
    behind_proxy: Served,
) -> None:
    client, runtime = behind_proxy.client, behind_proxy.runtime
    stale, locked = unique_name(), unique_name()
    assert await _fail(client, stale, "203.0.113.20", 1) == [401]
    assert await _fail(client, locked, "203.0.113.21", 3) == [401] * 3
    # Both windows began longer ago than a window lasts; only one name holds a lock.
    long_ago = datetime.now(UTC) - timedelta(seconds=2 * runtime.settings.lockout_seconds)
    async with runtime.db.unit_of_work() as session:
        await session.execute(update(LoginFailure).values(window_started_at=long_ago))
    assert await purge_login_failures(runtime) == 3  # both of stale's, locked's "*"
    async with runtime.db.unit_of_work() as session:
        left = await session.execute(select(LoginFailure.name, LoginFailure.address))
        assert [tuple(row) for row in left] == [(locked, "203.0.113.21")]
    assert (await _attempt(client, locked, "203.0.113.21", PASSWORD)).status_code == 429
