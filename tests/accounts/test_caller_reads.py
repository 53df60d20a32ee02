"""GET /profile and GET /wallet check an access token in the statement that reads the
caller's rows: the account's state and the session's revocation come from the database
with the row, and the cache is not asked at all. Every revocation still holds on the
next request, even one the cache never heard of; any other credential takes the usual
check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import delete

from gamehub.accounts.service import AccountService, revoked_family_key, revoked_jti_key
from gamehub.core.runtime import Runtime
from gamehub.models import UserProfile
from tests.support.api import PASSWORD, Client, bearer, login, register

CALLER_READS = ["/profile", "/wallet"]


@contextmanager
def cache_requests(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the cache's reads made meanwhile (the real cache still answers)."""
    made: list[str] = []
    for name in ("get", "get_many"):
        method: Callable[..., Awaitable[Any]] = getattr(runtime.cache, name)

        def counted(*args: Any, _name: str = name, _method: Any = method) -> Awaitable[Any]:
            made.append(_name)
            return _method(*args)  # type: ignore[no-any-return]

        monkeypatch.setattr(runtime.cache, name, counted)
    yield made
    monkeypatch.undo()


async def forget_revocations(runtime: Runtime, token: str) -> None:
    """What a cache that lost its keys (a flush, a fail-over) would know of this token."""
    claims = runtime.access_tokens.decode(token)
    await runtime.cache.delete(revoked_jti_key(claims.user_id, claims.jti))
    await runtime.cache.delete(revoked_family_key(claims.user_id, claims.family_id))


@pytest.mark.parametrize("path", CALLER_READS)
async def test_an_access_token_costs_the_read_no_cache_request(
    client: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    with cache_requests(runtime, monkeypatch) as made:
        response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert made == []
    if path == "/profile":
        assert response.json()["username"] == account["username"]
    else:
        assert response.json() == {"balance": 0.0, "currency": "KES", "held": 0.0}


@pytest.mark.parametrize("path", CALLER_READS)
async def test_a_logged_out_token_is_refused_though_the_cache_forgot_it(
    client: Client, runtime: Runtime, path: str
) -> None:
    account = await register(client)
    token = account["access_token"]
    assert (await client.get(path, headers=bearer(token))).status_code == 200
    assert (await client.post("/logout", headers=bearer(token))).status_code == 200
    await forget_revocations(runtime, token)
    refused = await client.get(path, headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json()["error"] == "AccessTokenRevoked"


@pytest.mark.parametrize("path", CALLER_READS)
async def test_a_session_revoked_for_a_reused_refresh_token_is_refused(
    client: Client, runtime: Runtime, path: str
) -> None:
    account = await register(client)
    token = account["access_token"]
    spent = {"refresh_token": account["refresh_token"]}
    assert (await client.post("/token/refresh", json=spent)).status_code == 200
    assert (await client.post("/token/refresh", json=spent)).status_code == 401
    await forget_revocations(runtime, token)
    assert (await client.get(path, headers=bearer(token))).status_code == 401


@pytest.mark.parametrize("path", CALLER_READS)
async def test_deactivation_is_refused_on_the_next_read(
    client: Client, runtime: Runtime, path: str
) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    assert (await client.get(path, headers=headers)).status_code == 200
    async with runtime.db.unit_of_work() as session:
        await AccountService(session, runtime).deactivate(account["username"], "test")
    refused = await client.get(path, headers=headers)
    assert refused.status_code == 401
    assert "disabled" in refused.json()["detail"]


@pytest.mark.parametrize("path", CALLER_READS)
async def test_a_password_change_voids_the_older_tokens_at_once(client: Client, path: str) -> None:
    account = await register(client)
    older = bearer(account["access_token"])
    newer = bearer((await login(client, account["username"]))["access_token"])
    changed = await client.post(
        "/password/change",
        headers=newer,
        json={"current_password": PASSWORD, "new_password": "Fresh-Caller-Pass-58"},
    )
    assert changed.status_code == 200, changed.text
    assert (await client.get(path, headers=older)).status_code == 401


@pytest.mark.parametrize("path", CALLER_READS)
async def test_another_users_session_is_not_the_callers(
    client: Client, runtime: Runtime, path: str
) -> None:
    """A token names its user and its session; one user's revoked session says nothing
    about another's token, and a token is never read as another user's."""
    alice, bob = await register(client), await register(client)
    assert (await client.post("/logout", headers=bearer(alice["access_token"]))).is_success
    response = await client.get(path, headers=bearer(bob["access_token"]))
    assert response.status_code == 200
    if path == "/profile":
        assert response.json()["username"] == bob["username"]


@pytest.mark.parametrize("path", CALLER_READS)
async def test_an_api_token_takes_the_usual_check(client: Client, path: str) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    api_token = (await client.post("/api-token", headers=headers)).json()["api_token"]
    assert (await client.get(path, headers={"X-API-Token": api_token})).status_code == 200
    assert (await client.delete("/api-token", headers=headers)).status_code == 200
    refused = await client.get(path, headers={"X-API-Token": api_token})
    assert refused.status_code == 401
    assert refused.json()["error"] == "InvalidApiToken"


@pytest.mark.parametrize("path", CALLER_READS)
async def test_a_token_without_a_session_takes_the_usual_check(
    client: Client, runtime: Runtime, path: str
) -> None:
    """Tokens issued before sessions had families carry none: their revocation lives in
    the cache only, so the usual check reads it."""
    account = await register(client)
    token = runtime.access_tokens.issue(account["id"], "")
    assert (await client.get(path, headers=bearer(token))).status_code == 200
    claims = runtime.access_tokens.decode(token)
    await runtime.cache.set(revoked_jti_key(account["id"], claims.jti), b"1", 60)
    assert (await client.get(path, headers=bearer(token))).status_code == 401


@pytest.mark.parametrize("path", CALLER_READS)
async def test_an_unverified_email_is_refused_where_verification_is_required(
    app_factory: Any, path: str
) -> None:
    async with app_factory(email_verification_required=True) as client:
        account = await register(client, email="caller-read@example.com")
        refused = await client.get(path, headers=bearer(account["access_token"]))
        assert refused.status_code == 403
        assert refused.json()["error"] == "EmailNotVerified"


@pytest.mark.parametrize("path", CALLER_READS)
async def test_a_missing_or_broken_token_is_401(client: Client, path: str) -> None:
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=bearer("not-a-jwt"))).status_code == 401


async def test_a_row_the_read_joins_gone_answers_as_before(
    client: Client, runtime: Runtime
) -> None:
    """No row from the statement: the usual check runs, then the read again, so the
    caller hears what they heard before the check moved into the statement."""
    account = await register(client)
    headers = bearer(account["access_token"])
    async with runtime.db.unit_of_work() as session:
        await session.execute(delete(UserProfile).where(UserProfile.user_id == account["id"]))
    missing = await client.get("/profile", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"] == "UserNotFound"
