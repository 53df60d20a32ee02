"""POST /login: credentials, lockout, the per-IP ceiling, inactive and imported accounts."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy import select

from gamehub.core.clock import ManualClock
from gamehub.core.runtime import Runtime
from gamehub.models import LoginFailure, User
from tests.support.api import PASSWORD, Client, bearer, login, register, unique_name


async def test_login_by_username_returns_the_seed_shape(client: Client) -> None:
    account = await register(client)
    body = await login(client, account["username"])
    assert set(body) == {
        "id", "name", "username", "wallet", "access_token", "refresh_token", "token_type",
        "expires_in",
    }  # fmt: skip
    assert body["id"] == account["id"]
    assert body["name"] == body["username"] == account["username"]
    assert body["wallet"] == 0
    assert body["expires_in"] == 900
    me = await client.get("/me", headers=bearer(body["access_token"]))
    assert me.json()["last_login"] is not None


async def test_login_by_email_works_too(client: Client) -> None:
    name = unique_name()
    account = await register(client, name, email=f"{name}@example.com")
    body = await login(client, f"{name.upper()}@EXAMPLE.com")
    assert body["id"] == account["id"]


async def test_unknown_user_and_wrong_password_look_the_same(client: Client) -> None:
    account = await register(client)
    wrong = await client.post(
        "/login", json={"username": account["username"], "password": "not the password"}
    )
    unknown = await client.post("/login", json={"username": unique_name(), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "error": "InvalidCredentials",
            "detail": "Invalid username or password",
        }
    )


async def _fail(client: Client, username: str, times: int) -> list[int]:
    codes = []
    for _ in range(times):
        response = await client.post("/login", json={"username": username, "password": "wrong!!!"})
        codes.append(response.status_code)
    return codes


async def test_five_failures_lock_the_account_with_retry_after(client: Client) -> None:
    account = await register(client)
    assert await _fail(client, account["username"], 5) == [401] * 5
    locked = await client.post(
        "/login", json={"username": account["username"], "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json()["error"] == "AccountLocked"
    assert 850 <= int(locked.headers["Retry-After"]) <= 900
    assert locked.json()["retry_after"] == int(locked.headers["Retry-After"])


async def test_a_success_resets_the_failure_count(client: Client) -> None:
    account = await register(client)
    assert await _fail(client, account["username"], 4) == [401] * 4
    await login(client, account["username"])
    assert await _fail(client, account["username"], 4) == [401] * 4
    await login(client, account["username"])


async def test_the_lock_lifts_after_its_time(app_factory: Any) -> None:
    clock = ManualClock()
    async with app_factory(clock=clock, lockout_threshold=2, lockout_seconds=60) as client:
        account = await register(client)
        assert await _fail(client, account["username"], 2) == [401, 401]
        still = await client.post(
            "/login", json={"username": account["username"], "password": PASSWORD}
        )
        assert still.status_code == 429
        clock.advance(59)
        still = await client.post(
            "/login", json={"username": account["username"], "password": PASSWORD}
        )
        assert still.status_code == 429
        clock.advance(2)
        await login(client, account["username"])


async def test_failures_from_one_address_hit_a_ceiling_across_accounts(app_factory: Any) -> None:
    async with app_factory(ip_failure_limit=3) as client:
        victim = await register(client)
        codes = [
            (
                await client.post(
                    "/login", json={"username": unique_name(), "password": "nope!!!!"}
                )
            ).status_code
            for _ in range(3)
        ]
        assert codes == [401, 401, 401]
        blocked = await client.post(
            "/login", json={"username": victim["username"], "password": PASSWORD}
        )
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) > 0


async def test_concurrent_failures_are_all_counted(client: Client, runtime: Runtime) -> None:
    account = await register(client)
    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(_fail, client, account["username"], 1)
    async with runtime.db.unit_of_work() as session:
        counted = await session.execute(
            select(LoginFailure.address, LoginFailure.failures).where(
                LoginFailure.name == account["username"].lower()
            )
        )
        # From the test client's address, and from all addresses together.
        assert sorted(tuple(row) for row in counted) == [("*", 4), ("127.0.0.1", 4)]


async def test_inactive_accounts_cannot_log_in_or_use_tokens(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    async with runtime.db.unit_of_work() as session:
        user = await session.get(User, account["id"])
        assert user is not None
        user.is_active = False
    refused = await client.post(
        "/login", json={"username": account["username"], "password": PASSWORD}
    )
    assert refused.status_code == 403
    assert (await client.get("/me", headers=bearer(account["access_token"]))).status_code == 401
    refreshed = await client.post(
        "/token/refresh", json={"refresh_token": account["refresh_token"]}
    )
    assert refreshed.status_code == 401


def _werkzeug_pbkdf2(password: str, salt: str = "s4LtS4lt", iterations: int = 600000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2:sha256:{iterations}${salt}${digest}"


def _werkzeug_scrypt(password: str, salt: str = "pepperPEPPER") -> str:
    n, r, p = 2**15, 8, 1
    digest = hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
    ).hex()
    return f"scrypt:{n}:{r}:{p}${salt}${digest}"


async def _import_user(runtime: Runtime, username: str, password_hash: str) -> None:
    """Insert a user the way an import from the seed apps would, then add its rows."""
    from gamehub.accounts.repository import AccountRepository

    async with runtime.db.unit_of_work() as session:
        user = User(
            username=username,
            username_key=username.lower(),
            password_hash=password_hash,
            is_active=True,
            is_admin=False,
            email_verified=False,
            created_at=datetime.now(UTC),
        )
        await AccountRepository(session).add_user_with_accounts(user, "KES")


async def test_seed_werkzeug_hashes_log_in_and_are_rehashed(
    client: Client, runtime: Runtime
) -> None:
    for name, legacy in (
        (unique_name("pbkdf2"), _werkzeug_pbkdf2("seed-app-password")),
        (unique_name("scrypt"), _werkzeug_scrypt("seed-app-password")),
    ):
        await _import_user(runtime, name, legacy)
        await login(client, name, "seed-app-password")
        async with runtime.db.unit_of_work() as session:
            stored = (
                await session.execute(select(User.password_hash).where(User.username == name))
            ).scalar_one()
        assert stored.startswith("$argon2id$")
        await login(client, name, "seed-app-password")


async def test_wrong_password_against_a_legacy_hash_is_refused(
    client: Client, runtime: Runtime
) -> None:
    name = unique_name("legacy")
    await _import_user(runtime, name, _werkzeug_pbkdf2("right-password"))
    response = await client.post("/login", json={"username": name, "password": "wrong-password"})
    assert response.status_code == 401


async def test_login_body_errors_are_4xx_not_500(client: Client) -> None:
    for body in ({}, {"username": "x"}, {"password": "x"}, {"username": None, "password": "x"},
                 {"username": "x" * 10_000, "password": "x"}):  # fmt: skip
        response = await client.post("/login", json=body)
        assert response.status_code == 422, body
    not_json = await client.post("/login", content=b"username=x&password=y")
    assert not_json.status_code == 400
