"""Access tokens, refresh rotation with reuse detection, and logout that really revokes."""

from __future__ import annotations

import time

import anyio
import jwt
import pytest

from gamehub.core import tokens as token_module
from gamehub.core.clock import ManualClock
from gamehub.core.runtime import Runtime
from gamehub.core.tokens import AccessTokens
from gamehub.errors import Unauthorized
from tests.support.api import Client, bearer, register


async def test_refresh_rotates_both_tokens(client: Client) -> None:
    account = await register(client)
    response = await client.post("/token/refresh", json={"refresh_token": account["refresh_token"]})
    assert response.status_code == 200
    pair = response.json()
    assert pair["refresh_token"] != account["refresh_token"]
    assert pair["access_token"] != account["access_token"]
    assert (await client.get("/me", headers=bearer(pair["access_token"]))).status_code == 200


async def test_reusing_a_spent_refresh_token_revokes_the_whole_family(client: Client) -> None:
    account = await register(client)
    first = await client.post("/token/refresh", json={"refresh_token": account["refresh_token"]})
    stolen_pair = first.json()
    replay = await client.post("/token/refresh", json={"refresh_token": account["refresh_token"]})
    assert replay.status_code == 401
    assert "revoked" in replay.json()["detail"]
    # The legitimate holder's newer tokens die with the family.
    newer = await client.post(
        "/token/refresh", json={"refresh_token": stolen_pair["refresh_token"]}
    )
    assert newer.status_code == 401
    me = await client.get("/me", headers=bearer(stolen_pair["access_token"]))
    assert me.status_code == 401


async def test_a_refresh_token_is_spent_once_even_under_concurrency(client: Client) -> None:
    account = await register(client)
    codes: list[int] = []

    async def spend() -> None:
        response = await client.post(
            "/token/refresh", json={"refresh_token": account["refresh_token"]}
        )
        codes.append(response.status_code)

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(spend)
    assert codes.count(200) <= 1
    assert codes.count(401) >= 4


async def test_logout_revokes_the_access_and_the_refresh_token(client: Client) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    response = await client.post("/logout", headers=headers)
    assert response.status_code == 200
    assert (await client.get("/me", headers=headers)).status_code == 401
    refreshed = await client.post(
        "/token/refresh", json={"refresh_token": account["refresh_token"]}
    )
    assert refreshed.status_code == 401


async def test_logout_leaves_other_sessions_alone(client: Client) -> None:
    account = await register(client)
    other = (
        await client.post(
            "/login", json={"username": account["username"], "password": "Tr1cky-Marmot-42"}
        )
    ).json()
    await client.post("/logout", headers=bearer(account["access_token"]))
    assert (await client.get("/me", headers=bearer(other["access_token"]))).status_code == 200


async def test_logout_with_a_named_refresh_token_revokes_that_one_too(client: Client) -> None:
    account = await register(client)
    other = (
        await client.post(
            "/login", json={"username": account["username"], "password": "Tr1cky-Marmot-42"}
        )
    ).json()
    await client.post(
        "/logout",
        headers=bearer(account["access_token"]),
        json={"refresh_token": other["refresh_token"]},
    )
    refreshed = await client.post("/token/refresh", json={"refresh_token": other["refresh_token"]})
    assert refreshed.status_code == 401


async def test_missing_or_garbage_credentials_are_401(client: Client) -> None:
    for headers, code in (
        ({}, "AuthenticationRequired"),
        ({"Authorization": "Bearer"}, "AuthenticationRequired"),
        ({"Authorization": "Bearer not.a.jwt"}, "InvalidAccessToken"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "AuthenticationRequired"),
        ({"X-API-Token": "gh_unknown"}, "InvalidApiToken"),
    ):
        response = await client.get("/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == code
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_expired_and_forged_access_tokens_are_refused(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    now = int(time.time())
    claims = {"sub": str(account["id"]), "jti": "x", "typ": "access", "iat": now - 100,
              "exp": now - 10}  # fmt: skip
    expired = jwt.encode(claims, runtime.settings.jwt_secret, algorithm="HS256")
    response = await client.get("/me", headers=bearer(expired))
    assert response.status_code == 401
    assert response.json()["detail"] == "Access token has expired"
    claims["exp"] = now + 600
    forged = jwt.encode(claims, "someone else's secret " * 3, algorithm="HS256")
    assert (await client.get("/me", headers=bearer(forged))).status_code == 401
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert (await client.get("/me", headers=bearer(unsigned))).status_code == 401


async def test_refresh_body_errors(client: Client) -> None:
    assert (await client.post("/token/refresh", json={})).status_code == 422
    assert (await client.post("/token/refresh", json={"refresh_token": 5})).status_code == 422
    garbage = await client.post("/token/refresh", json={"refresh_token": "made-up"})
    assert garbage.status_code == 401


def test_a_token_checked_once_is_still_refused_once_it_expires() -> None:
    clock = ManualClock()
    tokens = AccessTokens("s" * 32, "HS256", ttl_seconds=60, clock=clock)
    token = tokens.issue(7, "family")
    assert tokens.decode(token).user_id == 7
    assert tokens.decode(token).user_id == 7  # from what this process verified
    clock.advance(61)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.decode(token)


def test_a_token_is_refused_once_the_runtimes_clock_passes_its_expiry() -> None:
    clock = ManualClock()
    token = AccessTokens("s" * 32, "HS256", ttl_seconds=60, clock=clock).issue(7, "family")
    clock.advance(59)
    # Another worker, which has not verified it yet.
    assert AccessTokens("s" * 32, "HS256", ttl_seconds=60, clock=clock).decode(token).user_id == 7
    clock.advance(1)
    with pytest.raises(Unauthorized, match="expired"):
        AccessTokens("s" * 32, "HS256", ttl_seconds=60, clock=clock).decode(token)


def test_only_the_very_token_verified_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_module, "VERIFIED_TOKENS_KEPT", 2)
    tokens = AccessTokens("s" * 32, "HS256", ttl_seconds=60)
    token = tokens.issue(7, "family")
    tokens.decode(token)
    header, payload, signature = token.split(".")
    forged = ".".join(
        [header, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")]
    )
    with pytest.raises(Unauthorized, match="Invalid"):
        tokens.decode(forged)
    # Bounded: the oldest is forgotten, and verified again when it comes back.
    for user_id in (8, 9):
        tokens.decode(tokens.issue(user_id, "family"))
    assert token not in tokens._verified
    assert tokens.decode(token).user_id == 7


@pytest.mark.parametrize("moments", [{"exp": "soon"}, {"iat": "now"}, {"exp": True}])
def test_a_validly_signed_token_with_a_malformed_time_is_refused(
    moments: dict[str, object],
) -> None:
    tokens = AccessTokens("s" * 32, "HS256", ttl_seconds=60)
    now = int(time.time())
    claims = {"sub": "7", "jti": "x", "typ": "access", "iat": now, "exp": now + 60, **moments}
    with pytest.raises(Unauthorized, match="Invalid access token"):
        tokens.decode(jwt.encode(claims, "s" * 32, algorithm="HS256"))
