"""The seed's api_token: shown once, stored hashed, usable as X-API-Token or Bearer."""

from __future__ import annotations

from sqlalchemy import select

from gamehub.core.runtime import Runtime
from gamehub.core.tokens import digest
from gamehub.models import User
from tests.support.api import PASSWORD, Client, bearer, login, register, unique_name
from tests.support.smtp import SmtpSink, token_in


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


async def test_an_api_token_cannot_mint_its_successor(client: Client) -> None:
    account = await register(client)
    token = (await client.post("/api-token", headers=bearer(account["access_token"]))).json()[
        "api_token"
    ]
    refused = await client.post("/api-token", headers={"X-API-Token": token})
    assert refused.status_code == 403
    assert (await client.get("/me", headers={"X-API-Token": token})).status_code == 200


async def test_a_password_change_or_reset_revokes_the_api_token(
    client: Client, smtp_sink: SmtpSink
) -> None:
    name = unique_name()
    email = f"{name}@example.com"
    account = await register(client, name, email=email)
    headers = bearer(account["access_token"])
    token = (await client.post("/api-token", headers=headers)).json()["api_token"]
    changed = await client.post(
        "/password/change",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "Changed-Pass-2024"},
    )
    assert changed.status_code == 200
    assert (await client.get("/me", headers={"X-API-Token": token})).status_code == 401

    relogged = bearer((await login(client, name, "Changed-Pass-2024"))["access_token"])
    token = (await client.post("/api-token", headers=relogged)).json()["api_token"]
    await client.post("/password/forgot", json={"email": email})
    reset_mail = next(
        m for m in await smtp_sink.wait_for(email, count=2) if "Reset" in str(m["Subject"])
    )
    reset = await client.post(
        "/password/reset", json={"token": token_in(reset_mail), "new_password": "Reset-Pass-2025"}
    )
    assert reset.status_code == 200
    for headers in ({"X-API-Token": token}, bearer(token)):
        assert (await client.get("/me", headers=headers)).status_code == 401
    # Nor can it withdraw: every route behind the identity refuses it.
    withdraw = await client.post(
        "/withdraw", headers={"X-API-Token": token}, json={"amount": 10, "phone": "254708374149"}
    )
    assert withdraw.status_code == 401
