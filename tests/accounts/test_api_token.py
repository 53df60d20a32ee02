"""The seed's api_token: shown once, stored hashed, usable as X-API-Token or Bearer."""

from __future__ import annotations

from sqlalchemy import select

from gamehub.accounts.tokens import digest
from gamehub.core.runtime import Runtime
from gamehub.models import User
from tests.support.api import Client, bearer, register


async def test_api_token_is_shown_once_and_stored_hashed(client: Client, runtime: Runtime) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    created = await client.post("/api-token", headers=headers)
    assert created.status_code == 201
    token = created.json()["api_token"]
    assert token.startswith("gh_")
    info = (await client.get("/api-token", headers=headers)).json()
    assert info["exists"] is True
    assert token.startswith(info["hint"])
    assert token not in str(info)
    async with runtime.db.unit_of_work() as session:
        stored = (
            await session.execute(select(User.api_token_hash).where(User.id == account["id"]))
        ).scalar_one()
    assert stored == digest(token)


async def test_api_token_authenticates_in_either_header(client: Client) -> None:
    account = await register(client)
    token = (await client.post("/api-token", headers=bearer(account["access_token"]))).json()[
        "api_token"
    ]
    for headers in ({"X-API-Token": token}, bearer(token)):
        me = await client.get("/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["id"] == account["id"]
    info = (await client.get("/api-token", headers={"X-API-Token": token})).json()
    assert info["last_used_at"] is not None


async def test_revoked_or_replaced_tokens_stop_working(client: Client) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    first = (await client.post("/api-token", headers=headers)).json()["api_token"]
    second = (await client.post("/api-token", headers=headers)).json()["api_token"]
    assert (await client.get("/me", headers={"X-API-Token": first})).status_code == 401
    assert (await client.get("/me", headers={"X-API-Token": second})).status_code == 200
    assert (await client.delete("/api-token", headers=headers)).status_code == 200
    assert (await client.get("/me", headers={"X-API-Token": second})).status_code == 401
    assert (await client.delete("/api-token", headers=headers)).status_code == 404
    assert (await client.get("/api-token", headers=headers)).json() == {
        "exists": False, "hint": None, "created_at": None, "last_used_at": None,
    }  # fmt: skip


async def test_one_users_token_never_reaches_another(client: Client) -> None:
    alice = await register(client)
    bob = await register(client)
    token = (await client.post("/api-token", headers=bearer(alice["access_token"]))).json()[
        "api_token"
    ]
    me = (await client.get("/me", headers={"X-API-Token": token})).json()
    assert me["id"] == alice["id"] != bob["id"]


async def test_an_api_token_cannot_log_out(client: Client) -> None:
    account = await register(client)
    token = (await client.post("/api-token", headers=bearer(account["access_token"]))).json()[
        "api_token"
    ]
    response = await client.post("/logout", headers={"X-API-Token": token})
    assert response.status_code == 400
