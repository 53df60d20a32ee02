"""POST /register: who may sign up, with what, and what an account starts with."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from sqlalchemy import select

from gamehub.core.events import user_topic
from gamehub.core.runtime import Runtime
from gamehub.models import Stats, User, UserProfile
from gamehub.wallet.ledger import Ledger
from tests.support.api import PASSWORD, Client, bearer, register, unique_name
from tests.support.smtp import SmtpSink


async def test_register_returns_the_account_and_working_tokens(client: Client) -> None:
    name = unique_name()
    body = await register(client, name, email=f"{name}@example.com", full_name="Ada Lovelace")
    assert body["username"] == name
    assert body["message"] == f"User {name} created successfully!"
    assert body["token_type"] == "bearer"
    assert isinstance(body["id"], int)
    me = await client.get("/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["full_name"] == "Ada Lovelace"


async def test_register_creates_profile_wallet_and_stats_together(
    client: Client, runtime: Runtime
) -> None:
    body = await register(client)
    async with runtime.db.unit_of_work() as session:
        for model in (UserProfile, Stats):
            found = await session.execute(select(model).where(model.user_id == body["id"]))
            assert found.scalar_one() is not None
        wallet = await Ledger(session).wallet(body["id"], "KES")
        assert wallet.balance == 0
        assert wallet.kind == "wallet"


async def test_a_welcome_bonus_is_credited_through_the_ledger(app_factory: Any) -> None:
    async with app_factory(welcome_bonus_minor=2_000_00) as client:
        account = await register(client)
        me = (await client.get("/me", headers=bearer(account["access_token"]))).json()
        assert me["wallet"]["balance"] == 2000
        history = await client.get("/wallet/transactions", headers=bearer(account["access_token"]))
        [item] = history.json()["items"]
        assert item["category"] == "bonus"
        assert item["amount"] == 2000
        # Told like any movement: a stream resuming from before the account replays it.
        runtime: Runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
        stream = await runtime.events.open([user_topic(account["id"])], after_id="0-0")
        with anyio.fail_after(5):
            told = await stream.get()
        runtime.events.unsubscribe(stream)
        assert told.name == "transaction_update"
        assert (told.data["category"], told.data["amount"], told.data["id"]) == (
            "bonus",
            2000,
            item["id"],
        )


async def test_passwords_are_stored_as_argon2id(client: Client, runtime: Runtime) -> None:
    body = await register(client)
    async with runtime.db.unit_of_work() as session:
        user = await session.get(User, body["id"])
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


async def test_taken_username_is_409_whatever_its_case(client: Client) -> None:
    name = unique_name()
    await register(client, name)
    response = await client.post("/register", json={"username": name.upper(), "password": PASSWORD})
    assert response.status_code == 409
    assert response.json() == {
        "error": "UsernameTaken",
        "detail": "That username is already registered",
    }


async def test_a_taken_email_or_roll_number_is_refused_without_saying_which(
    client: Client, smtp_sink: SmtpSink
) -> None:
    owner = unique_name()
    await register(client, owner, email=f"{owner}@example.com", roll_number="21f1006194")
    await smtp_sink.wait_for(f"{owner}@example.com")  # the verification mail
    refusals = [
        await client.post(
            "/register", json={"username": unique_name(), "password": PASSWORD, **taken}
        )
        for taken in ({"email": f"{owner.upper()}@Example.com"}, {"roll_number": "21f1006194"})
    ]
    assert [r.status_code for r in refusals] == [409, 409]
    assert refusals[0].json() == refusals[1].json()
    detail = refusals[0].json()["detail"]
    assert "email" not in detail
    assert "roll" not in detail
    # The address's owner hears of the attempt; the stranger learns nothing more.
    notice = (await smtp_sink.wait_for(f"{owner}@example.com", count=2))[1]
    assert "tried to register" in str(notice["Subject"])
    body = notice.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert owner in body.decode()


@pytest.mark.parametrize(
    "username",
    ["ab", "x" * 51, "has space", "semi;colon", "émile", "", "tab\there"],
)
async def test_bad_usernames_are_422(client: Client, username: str) -> None:
    response = await client.post("/register", json={"username": username, "password": PASSWORD})
    assert response.status_code == 422
    assert response.json()["field"] == "username"
    assert response.json()["error"] == "ValidationError"
    assert "username" in response.json()["detail"]


@pytest.mark.parametrize("username", ["abc", "a.b-c_d", "X" * 50, "007"])
async def test_good_usernames_are_accepted(client: Client, username: str) -> None:
    await register(client, username)


@pytest.mark.parametrize(
    ("password", "code", "detail"),
    [
        ("short1!", "ValidationError", "password: must be at least 8 characters"),
        ("password", "PasswordTooCommon", "password: too common or too easy to guess"),
        ("12345678", "PasswordTooCommon", "password: too common or too easy to guess"),
        ("Football", "PasswordTooCommon", "password: too common or too easy to guess"),
        ("p" * 129, "ValidationError", "password: must be at most 128 characters"),
    ],
)
async def test_weak_passwords_are_422(
    client: Client, password: str, code: str, detail: str
) -> None:
    response = await client.post(
        "/register", json={"username": unique_name(), "password": password}
    )
    assert response.status_code == 422
    assert response.json()["error"] == code
    assert response.json()["detail"].startswith(detail)


async def test_password_equal_to_username_is_refused(client: Client) -> None:
    name = unique_name("samesame")
    response = await client.post("/register", json={"username": name, "password": name})
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"password": PASSWORD}, "username", "username: is required"),
        ({"username": "someone"}, "password", "password: is required"),
        (
            {"username": 12345, "password": PASSWORD},
            "username",
            "username: must be text, not a whole number",
        ),
        (
            {"username": "someone", "password": ["a", "list"]},
            "password",
            "password: must be text, not a list",
        ),
        (
            {"username": "someone", "password": PASSWORD, "email": 7},
            "email",
            "email: must be text or null, not a whole number",
        ),
        (
            {"username": "someone", "password": PASSWORD, "is_admin": True},
            "is_admin",
            "is_admin: is not a field of this request",
        ),
        (
            {"username": "someone", "password": PASSWORD, "wallet": 1_000_000},
            "wallet",
            "wallet: is not a field of this request",
        ),
        (
            {"username": "someone", "password": PASSWORD, "phone": "call me"},
            "phone",
            "phone: must be 9 to 15 digits",
        ),
        ([], "body", "body: must be a JSON object, not a list"),
        ("just a string", "body", "body: must be a JSON object, not text"),
    ],
)
async def test_wrong_types_missing_and_extra_fields_are_422_in_plain_words(
    client: Client, body: object, field: str, detail: str
) -> None:
    response = await client.post("/register", json=body)
    assert response.status_code == 422, response.text
    assert response.json() == {"error": "ValidationError", "detail": detail, "field": field}


async def test_an_email_that_is_no_address_is_422(client: Client) -> None:
    response = await client.post(
        "/register", json={"username": "someone", "password": PASSWORD, "email": "not-an-email"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "InvalidEmail"
    assert response.json()["detail"].startswith("email: ")


async def test_malformed_json_is_400_said_once(client: Client) -> None:
    response = await client.post(
        "/register", content=b'{"username": "x",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "MalformedJson"
    assert response.json()["detail"].startswith("The body is not valid JSON: ")
    assert response.json()["detail"].count("JSON") == 1


async def test_oversized_body_is_413(client: Client) -> None:
    response = await client.post(
        "/register", json={"username": "someone", "password": PASSWORD, "bio": "x" * 200_000}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"


async def test_allowed_domains_restrict_registration(app_factory) -> None:  # type: ignore[no-untyped-def]
    async with app_factory(allowed_email_domains=["ds.study.iitm.ac.in"]) as client:
        no_email = await client.post(
            "/register", json={"username": unique_name(), "password": PASSWORD}
        )
        assert no_email.status_code == 422
        assert "ds.study.iitm.ac.in" in no_email.json()["detail"]
        assert no_email.json()["error"] == "EmailDomainNotAllowed"
        foreign = await client.post(
            "/register",
            json={"username": unique_name(), "password": PASSWORD, "email": "a@gmail.com"},
        )
        assert foreign.status_code == 422
        assert foreign.json()["error"] == "EmailDomainNotAllowed"
        assert foreign.json()["allowed_domains"] == ["ds.study.iitm.ac.in"]
        ok = await client.post(
            "/register",
            json={
                "username": unique_name(),
                "password": PASSWORD,
                "email": "21f1006194@DS.study.iitm.ac.in",
            },
        )
        assert ok.status_code == 201


async def test_simultaneous_registrations_of_one_name_create_one_account(
    client: Client, runtime: Runtime
) -> None:
    name = unique_name()
    statuses: list[int] = []

    async def attempt() -> None:
        response = await client.post("/register", json={"username": name, "password": PASSWORD})
        statuses.append(response.status_code)

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(attempt)
    assert sorted(statuses) == [201] + [409] * 5
    async with runtime.db.unit_of_work() as session:
        users = (
            (await session.execute(select(User).where(User.username_key == name))).scalars().all()
        )
        assert len(users) == 1


async def test_no_secret_ever_appears_in_a_response(client: Client, runtime: Runtime) -> None:
    body = await register(client, email="secretive@example.com")
    responses = [
        await client.get("/me", headers=bearer(body["access_token"])),
        await client.get("/profile", headers=bearer(body["access_token"])),
        await client.get(f"/user/{body['username']}"),
        await client.post("/login", json={"username": body["username"], "password": PASSWORD}),
    ]
    async with runtime.db.unit_of_work() as session:
        user = await session.get(User, body["id"])
        assert user is not None
        stored_hash = user.password_hash
    for response in responses:
        assert stored_hash not in response.text
        assert "password" not in response.json()
        assert runtime.settings.jwt_secret not in response.text
