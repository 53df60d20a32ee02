"""Password change, forgotten password by email, and reset with a one-time token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import text, update

from gamehub.core.passwords import PasswordHashing, is_common_password
from gamehub.core.runtime import Runtime
from gamehub.models import User, VerificationToken
from tests.support.api import PASSWORD, Client, bearer, login, register, unique_name
from tests.support.smtp import SmtpSink, token_in

NEW_PASSWORD = "Another-Good-One-77"


async def test_change_password_ends_other_sessions(client: Client) -> None:
    account = await register(client)
    other_session = await login(client, account["username"])
    response = await client.post(
        "/password/change",
        headers=bearer(account["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert (
        await client.get("/me", headers=bearer(other_session["access_token"]))
    ).status_code == 401
    refreshed = await client.post(
        "/token/refresh", json={"refresh_token": other_session["refresh_token"]}
    )
    assert refreshed.status_code == 401
    old = await client.post("/login", json={"username": account["username"], "password": PASSWORD})
    assert old.status_code == 401
    await login(client, account["username"], NEW_PASSWORD)


async def test_change_password_needs_the_current_one(client: Client) -> None:
    account = await register(client)
    response = await client.post(
        "/password/change",
        headers=bearer(account["access_token"]),
        json={"current_password": "guess-guess", "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 403
    await login(client, account["username"])


async def test_change_password_refuses_weak_new_passwords(client: Client) -> None:
    account = await register(client)
    for weak in ("password1", "short"):
        response = await client.post(
            "/password/change",
            headers=bearer(account["access_token"]),
            json={"current_password": PASSWORD, "new_password": weak},
        )
        assert response.status_code == 422


async def test_forgot_password_is_202_for_unknown_addresses_and_sends_nothing(
    client: Client, smtp_sink: SmtpSink
) -> None:
    response = await client.post("/password/forgot", json={"email": "nobody@example.com"})
    assert response.status_code == 202
    assert smtp_sink.to("nobody@example.com") == []


async def test_reset_by_emailed_token_works_once(client: Client, smtp_sink: SmtpSink) -> None:
    name = unique_name()
    email = f"{name}@example.com"
    account = await register(client, name, email=email)
    response = await client.post("/password/forgot", json={"email": email.upper()})
    assert response.status_code == 202
    mails = await smtp_sink.wait_for(email, count=2)  # verification, then reset
    reset_mail = next(m for m in mails if "Reset" in str(m["Subject"]))
    token = token_in(reset_mail)
    done = await client.post("/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert done.status_code == 200
    await login(client, name, NEW_PASSWORD)
    assert (await client.get("/me", headers=bearer(account["access_token"]))).status_code == 401
    again = await client.post(
        "/password/reset", json={"token": token, "new_password": "Third-Pw-99x"}
    )
    assert again.status_code == 400
    assert again.json()["detail"] == "Invalid or expired reset token"


async def test_an_expired_or_wrong_purpose_token_cannot_reset(
    client: Client, runtime: Runtime, smtp_sink: SmtpSink
) -> None:
    name = unique_name()
    email = f"{name}@example.com"
    await register(client, name, email=email)
    verification = token_in((await smtp_sink.wait_for(email))[0])
    wrong_purpose = await client.post(
        "/password/reset", json={"token": verification, "new_password": NEW_PASSWORD}
    )
    assert wrong_purpose.status_code == 400
    await client.post("/password/forgot", json={"email": email})
    reset = token_in((await smtp_sink.wait_for(email, count=2))[1])
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(VerificationToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = await client.post(
        "/password/reset", json={"token": reset, "new_password": NEW_PASSWORD}
    )
    assert expired.status_code == 400


async def test_a_new_reset_token_retires_the_previous_one(
    client: Client, smtp_sink: SmtpSink
) -> None:
    name = unique_name()
    email = f"{name}@example.com"
    await register(client, name, email=email)
    await client.post("/password/forgot", json={"email": email})
    await client.post("/password/forgot", json={"email": email})
    mails = await smtp_sink.wait_for(email, count=3)
    first, second = (token_in(m) for m in mails if "Reset" in str(m["Subject"]))
    stale = await client.post(
        "/password/reset", json={"token": first, "new_password": NEW_PASSWORD}
    )
    assert stale.status_code == 400
    fresh = await client.post(
        "/password/reset", json={"token": second, "new_password": NEW_PASSWORD}
    )
    assert fresh.status_code == 200


async def test_reset_body_errors(client: Client) -> None:
    assert (await client.post("/password/reset", json={"token": "x"})).status_code == 422
    weak = await client.post("/password/reset", json={"token": "x", "new_password": "12345678"})
    assert weak.status_code in (400, 422)
    assert (await client.post("/password/forgot", json={})).status_code == 422


def test_argon2_hashes_verify_and_wrong_passwords_do_not() -> None:
    hashing = PasswordHashing(time_cost=1, memory_kib=64, parallelism=1)
    stored = hashing.hash("a password")
    assert stored.startswith("$argon2id$")
    assert hashing.verify(stored, "a password")
    assert not hashing.verify(stored, "another")
    assert not hashing.verify("$argon2id$garbage", "a password")
    assert not hashing.verify(None, "a password")
    assert not hashing.verify("md5$abc$def", "a password")
    assert not hashing.verify("pbkdf2:sha256:notanumber$salt$00", "a password")


def test_weaker_argon2_parameters_ask_for_a_rehash() -> None:
    weak = PasswordHashing(time_cost=1, memory_kib=64, parallelism=1)
    strong = PasswordHashing(time_cost=2, memory_kib=128, parallelism=1)
    assert strong.needs_rehash(weak.hash("pw"))
    assert not weak.needs_rehash(weak.hash("pw"))
    assert weak.needs_rehash("pbkdf2:sha256:1000$s$00")


def test_common_passwords_come_from_the_zxcvbn_list() -> None:
    assert is_common_password("password")
    assert is_common_password("QWERTYUIOP")
    assert not is_common_password("Tr1cky-Marmot-42")


@asynccontextmanager
async def _users_table_held(runtime: Runtime) -> AsyncIterator[None]:
    """Nobody else reads or writes the users table inside the block."""
    async with runtime.db.unit_of_work() as session:
        backend = runtime.db.backend
        if backend == "postgresql":
            await session.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
        elif backend in ("mysql", "mariadb"):
            await session.execute(text("LOCK TABLES users WRITE"))
        else:
            # SQLite: the first write takes the database's one write lock.
            await session.execute(update(User).where(User.id == 0).values(full_name="held"))
        try:
            yield
        finally:
            if backend in ("mysql", "mariadb"):
                await session.execute(text("UNLOCK TABLES"))


async def test_forgot_answers_before_any_work_on_the_account(
    client: Client, runtime: Runtime, smtp_sink: SmtpSink
) -> None:
    """Known and unknown addresses get the same answer, and the answer does not wait
    for the account: the lookup and the mail happen after it, so it takes as long
    either way. Shown by asking while nobody can read the users table."""
    name = unique_name()
    email = f"{name}@example.com"
    await register(client, name, email=email)
    await smtp_sink.wait_for(email)  # the verification mail
    async with _users_table_held(runtime):
        known = await client.post("/password/forgot", json={"email": email})
        unknown = await client.post("/password/forgot", json={"email": f"x{name}@example.com"})
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json()
        assert len(smtp_sink.to(email)) == 1
    reset = (await smtp_sink.wait_for(email, count=2))[1]
    assert "Reset" in str(reset["Subject"])


async def test_a_strangers_reset_requests_leave_the_verification_mails_alone(
    client: Client, smtp_sink: SmtpSink
) -> None:
    name = unique_name()
    email = f"{name}@example.com"
    account = await register(client, name, email=email)
    for _ in range(6):
        assert (await client.post("/password/forgot", json={"email": email})).status_code == 202
    # Five resets an hour reach the owner; the sixth is dropped quietly.
    await smtp_sink.wait_for(email, count=6)
    requested = await client.post("/email/verify/request", headers=bearer(account["access_token"]))
    assert requested.status_code == 202
    mails = await smtp_sink.wait_for(email, count=7)
    assert sum("Verify" in str(m["Subject"]) for m in mails) == 2
