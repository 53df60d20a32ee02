"""/me, /profile and its PATCH, and the seed's cached public /user/{name}."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gamehub.accounts.service import user_cache_key
from gamehub.core.cache import get_versioned
from gamehub.core.runtime import Runtime
from gamehub.models import User
from tests.support.api import Client, bearer, login, register, unique_name


async def test_me_shows_the_private_account(client: Client) -> None:
    name = unique_name()
    account = await register(client, name, email=f"{name}@example.com", phone="+254712345678")
    me = (await client.get("/me", headers=bearer(account["access_token"]))).json()
    assert me["username"] == name
    assert me["email"] == f"{name}@example.com"
    assert me["phone"] == "+254712345678"
    assert me["email_verified"] is False
    assert me["is_admin"] is False
    assert me["wallet"] == {"balance": 0, "currency": "KES"}


async def test_profile_has_the_seed_fields(client: Client) -> None:
    account = await register(client, email=f"{unique_name()}@example.com")
    profile = (await client.get("/profile", headers=bearer(account["access_token"]))).json()
    for field in ("id", "username", "email", "balance", "created_at"):
        assert field in profile
    assert profile["balance"] == 0


async def test_patch_changes_only_the_named_fields(client: Client) -> None:
    account = await register(client, full_name="Before")
    headers = bearer(account["access_token"])
    response = await client.patch(
        "/profile",
        headers=headers,
        json={"bio": "Plays roulette.", "location": "Nairobi", "dob": "1999-12-31"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bio"] == "Plays roulette."
    assert body["location"] == "Nairobi"
    assert body["dob"] == "1999-12-31"
    assert body["full_name"] == "Before"
    cleared = await client.patch("/profile", headers=headers, json={"bio": None})
    assert cleared.json()["bio"] is None
    assert cleared.json()["location"] == "Nairobi"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "renamed"},
        {"wallet": 1000},
        {"balance": 1000},
        {"is_active": False},
        {"is_admin": True},
        {"email_verified": True},
        {"password_hash": "x"},
        {"dob": "not a date"},
        {"dob": 19991231},
        {"avatar_url": "javascript:alert(1)"},
        {"location": "x" * 101},
        {"bio": "x" * 2001},
        {"full_name": ["list"]},
    ],
)
async def test_patch_refuses_anything_else(client: Client, body: dict[str, Any]) -> None:
    account = await register(client)
    response = await client.patch("/profile", headers=bearer(account["access_token"]), json=body)
    assert response.status_code == 422, body
    me = (await client.get("/me", headers=bearer(account["access_token"]))).json()
    assert me["username"] == account["username"]
    assert me["is_admin"] is False


async def test_profile_routes_need_authentication(client: Client) -> None:
    assert (await client.get("/profile")).status_code == 401
    assert (await client.patch("/profile", json={"bio": "x"})).status_code == 401


async def test_public_user_shows_public_fields_only(client: Client) -> None:
    name = unique_name()
    await register(client, name, email=f"{name}@example.com", full_name="Grace")
    response = await client.get(f"/user/{name}")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == body["name"] == name
    assert body["full_name"] == "Grace"
    assert "email" not in body
    assert "wallet" not in body
    assert "password" not in response.text


async def test_unknown_public_user_is_404(client: Client) -> None:
    response = await client.get(f"/user/{unique_name()}")
    assert response.status_code == 404
    assert response.json() == {"error": "UserNotFound", "detail": "User not found"}


async def test_public_user_is_cached_for_five_minutes_and_dropped_on_change(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client, full_name="Original")
    name = account["username"]
    await client.get(f"/user/{name}")
    assert runtime.cache is not None
    ttl = await runtime.cache.ttl(user_cache_key(name))
    assert ttl is not None
    assert 290 <= ttl <= 300
    # A change made behind the API's back is not seen while the entry lives...
    async with runtime.db.unit_of_work() as session:
        user = await session.get(User, account["id"])
        assert user is not None
        user.full_name = "Changed directly"
    assert (await client.get(f"/user/{name}")).json()["full_name"] == "Original"
    # ...but a change through the API drops the entry.
    await client.patch(
        "/profile", headers=bearer(account["access_token"]), json={"full_name": "Patched"}
    )
    assert (await client.get(f"/user/{name}")).json()["full_name"] == "Patched"


async def test_login_caches_the_public_data(client: Client, runtime: Runtime) -> None:
    account = await register(client)
    await runtime.cache.delete(user_cache_key(account["username"]))
    await login(client, account["username"])
    cached, _ = await get_versioned(runtime.cache, user_cache_key(account["username"]))
    assert cached is not None
    assert msgspec.json.decode(cached)["id"] == account["id"]
