"""The caller's credential state is cached, yet every change to it (deactivation, logout,
password change) is refused on the very next request, on this app and on another one
sharing Redis; while Redis is out the database answers; a stale write is never trusted.

Checked on a route that takes the identity's cached check (GET /profile and GET /wallet
check in their own statement instead: tests/accounts/test_caller_reads.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import pytest
from reliability.services import Redis as ThrowawayRedis
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gamehub.accounts.service import AccountService
from gamehub.accounts.state import UserState, encode_state, state_key
from gamehub.core.cache import get_versioned, put_versioned
from gamehub.core.runtime import Runtime
from gamehub.models import RefreshToken, User
from tests.support.api import PASSWORD, Client, bearer, login, register
from tests.support.apps import Served, served
from tests.wallet.support import fund

SPIN = "/games/spin-and-win/play"
# A route whose caller is checked against the cached state.
CHECKED = "/wallet/transactions"
NEW_PASSWORD = "Fresh-Cached-Pass-58"


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends meanwhile."""
    seen: list[str] = []

    def record(_: Any, __: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def reads_user_state(seen: list[str]) -> list[str]:
    """The statements that read a user's state or whole row (what an identity check did)."""
    return [s for s in seen if "users.is_active" in s or "users.password_hash" in s]


def probes(seen: list[str]) -> int:
    # Only the health probe sends this; the app's background jobs may send others.
    return seen.count("SELECT 1")


async def cached(runtime: Runtime, user_id: int) -> bytes | None:
    value, _ = await get_versioned(runtime.cache, state_key(user_id))
    return value


async def test_the_state_is_cached_and_a_spin_reads_no_user(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    await fund(runtime, account["username"], 10_000)
    assert (await client.get(CHECKED, headers=headers)).status_code == 200
    assert await cached(runtime, account["id"]) is not None
    with statements(runtime.db.engine) as seen:
        assert (await client.get(CHECKED, headers=headers)).status_code == 200
        for _ in range(2):
            spin = await client.post(SPIN, headers=headers, json={"bet_amount": 10})
            assert spin.status_code == 200, spin.text
    assert reads_user_state(seen) == []


async def test_deactivation_is_refused_on_the_next_request(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    assert (await client.get(CHECKED, headers=headers)).status_code == 200
    assert await cached(runtime, account["id"]) is not None
    async with runtime.db.unit_of_work() as session:
        await AccountService(session, runtime).deactivate(account["username"], "test")
    assert (await client.get(CHECKED, headers=headers)).status_code == 401


async def test_logout_is_refused_on_the_next_request(client: Client) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    assert (await client.get(CHECKED, headers=headers)).status_code == 200
    assert (await client.post("/logout", headers=headers)).status_code == 200
    assert (await client.get(CHECKED, headers=headers)).status_code == 401


async def test_a_password_change_ends_every_other_session_at_once(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    other = bearer(account["access_token"])
    mine = bearer((await login(client, account["username"]))["access_token"])
    assert (await client.get(CHECKED, headers=other)).status_code == 200
    changed = await client.post(
        "/password/change",
        headers=mine,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    assert (await client.get(CHECKED, headers=other)).status_code == 401
    fresh = bearer((await login(client, account["username"], NEW_PASSWORD))["access_token"])
    assert (await client.get(CHECKED, headers=fresh)).status_code == 200


async def test_state_cached_from_before_a_change_is_never_trusted(
    client: Client, runtime: Runtime
) -> None:
    """The race: a request reads the row before the change commits and caches what it
    read after the change invalidated the entry. It cached it under the generation it read
    first, which the change has bumped since."""
    account = await register(client)
    headers = bearer(account["access_token"])
    key = state_key(account["id"])
    _, read_under = await get_versioned(runtime.cache, key)
    stale = UserState(is_active=True, email_verified=False, sessions_valid_after=None)
    async with runtime.db.unit_of_work() as session:
        await AccountService(session, runtime).deactivate(account["username"], "test")
    await put_versioned(runtime.cache, key, read_under, encode_state(stale), 60)
    assert (await client.get(CHECKED, headers=headers)).status_code == 401


@pytest.fixture
async def two_apps(database_url: str, redis_url: str | None) -> AsyncIterator[list[Served]]:
    """Two apps (two workers, as far as the cache can tell) sharing one Redis."""
    if redis_url is None:
        pytest.skip("needs GAMEHUB_TEST_REDIS_URL: workers share state through Redis")
    prefix = f"gamehub-test:{uuid.uuid4().hex[:10]}:"
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(served(database_url, redis_url, redis_prefix=prefix))
            for _ in range(2)
        ]


async def test_another_worker_refuses_what_this_one_revoked(two_apps: list[Served]) -> None:
    one, other = two_apps
    deactivated, logged_out, changed = [await register(one.client) for _ in range(3)]
    for account in (deactivated, logged_out, changed):
        # Cached by both, as a busy client would leave it.
        for app in two_apps:
            profile = await app.client.get(CHECKED, headers=bearer(account["access_token"]))
            assert profile.status_code == 200
    async with one.runtime.db.unit_of_work() as session:
        await AccountService(session, one.runtime).deactivate(deactivated["username"], "test")
    assert (await one.client.post("/logout", headers=bearer(logged_out["access_token"]))).is_success
    new_login = bearer((await login(one.client, changed["username"]))["access_token"])
    password = await one.client.post(
        "/password/change",
        headers=new_login,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert password.status_code == 200, password.text
    for account in (deactivated, logged_out, changed):
        refused = await other.client.get(CHECKED, headers=bearer(account["access_token"]))
        assert refused.status_code == 401, account


async def test_a_public_profile_changed_on_one_worker_is_fresh_on_another(
    two_apps: list[Served],
) -> None:
    one, other = two_apps
    account = await register(one.client, full_name="Before")
    name = account["username"]
    assert (await one.client.get(f"/user/{name}")).json()["full_name"] == "Before"
    patched = await one.client.patch(
        "/profile", headers=bearer(account["access_token"]), json={"full_name": "After"}
    )
    assert patched.status_code == 200
    assert (await other.client.get(f"/user/{name}")).json()["full_name"] == "After"
    assert (await one.client.get(f"/user/{name}")).json()["full_name"] == "After"


async def test_while_redis_is_out_the_database_decides(
    own_redis: ThrowawayRedis, database_url: str
) -> None:
    """With Redis unreachable this worker cannot hear of another's changes: the state it
    cached, and the revocations it knows, are not enough, so the database is asked."""
    async with served(database_url, own_redis.url) as app:
        client, runtime = app.client, app.runtime
        deactivated, revoked = await register(client), await register(client)
        for account in (deactivated, revoked):
            headers = bearer(account["access_token"])
            assert (await client.get(CHECKED, headers=headers)).status_code == 200
        own_redis.stop()
        still = await client.get(CHECKED, headers=bearer(deactivated["access_token"]))
        assert still.status_code == 200
        assert runtime.cache.degraded()
        # Changed by "another worker" whose invalidation cannot reach Redis now.
        async with runtime.db.unit_of_work() as session:
            await session.execute(
                update(User).where(User.id == deactivated["id"]).values(is_active=False)
            )
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.user_id == revoked["id"])
                .values(revoked=True)
            )
        for account in (deactivated, revoked):
            answer = await client.get(CHECKED, headers=bearer(account["access_token"]))
            assert answer.status_code == 401, answer.text


async def test_health_probes_the_database_once_for_many_requests(
    database_url: str, redis_url: str | None
) -> None:
    async with served(database_url, redis_url, health_probe_seconds=3600) as app:
        with statements(app.runtime.db.engine) as seen:
            for _ in range(20):
                assert (await app.client.get("/health")).status_code == 200
        assert probes(seen) == 1


async def test_health_without_caching_probes_every_time(
    database_url: str, redis_url: str | None
) -> None:
    async with served(database_url, redis_url, health_probe_seconds=0) as app:
        with statements(app.runtime.db.engine) as seen:
            for _ in range(3):
                assert (await app.client.get("/health")).status_code == 200
        assert probes(seen) == 3
