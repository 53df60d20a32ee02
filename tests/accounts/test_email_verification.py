"""Email verification tokens, delivered over real SMTP, and the optional requirement."""

from __future__ import annotations

from typing import Any

from tests.support.api import Client, bearer, register, unique_name
from tests.support.smtp import SmtpSink, token_in


async def test_registration_mails_a_token_that_verifies_once(
    client: Client, smtp_sink: SmtpSink
) -> None:
    name = unique_name()
    email = f"{name}@example.com"
    account = await register(client, name, email=email)
    message = (await smtp_sink.wait_for(email))[0]
    assert "Verify" in str(message["Subject"])
    token = token_in(message)
    confirmed = await client.post("/email/verify/confirm", json={"token": token})
    assert confirmed.status_code == 200
    me = (await client.get("/me", headers=bearer(account["access_token"]))).json()
    assert me["email_verified"] is True
    again = await client.post("/email/verify/confirm", json={"token": token})
    assert again.status_code == 400


async def test_request_sends_a_fresh_token_and_retires_the_old(
    client: Client, smtp_sink: SmtpSink
) -> None:
    name = unique_name()
    email = f"{name}@example.com"
    account = await register(client, name, email=email)
    response = await client.post("/email/verify/request", headers=bearer(account["access_token"]))
    assert response.status_code == 202
    first, second = (token_in(m) for m in await smtp_sink.wait_for(email, count=2))
    assert (await client.post("/email/verify/confirm", json={"token": first})).status_code == 400
    assert (await client.post("/email/verify/confirm", json={"token": second})).status_code == 200


async def test_request_without_email_or_when_verified_is_409(
    client: Client, smtp_sink: SmtpSink
) -> None:
    bare = await register(client)
    response = await client.post("/email/verify/request", headers=bearer(bare["access_token"]))
    assert response.status_code == 409
    name = unique_name()
    email = f"{name}@example.com"
    account = await register(client, name, email=email)
    token = token_in((await smtp_sink.wait_for(email))[0])
    await client.post("/email/verify/confirm", json={"token": token})
    again = await client.post("/email/verify/request", headers=bearer(account["access_token"]))
    assert again.status_code == 409


async def test_verification_mail_is_rate_limited(client: Client) -> None:
    name = unique_name()
    account = await register(client, name, email=f"{name}@example.com")
    codes = [
        (
            await client.post("/email/verify/request", headers=bearer(account["access_token"]))
        ).status_code
        for _ in range(5)
    ]
    # Registration sent the first of the five mails an hour allows.
    assert codes == [202, 202, 202, 202, 429]


async def test_garbage_tokens_are_400(client: Client) -> None:
    response = await client.post("/email/verify/confirm", json={"token": "made-up"})
    assert response.status_code == 400
    assert (await client.post("/email/verify/confirm", json={})).status_code == 422


async def test_when_required_unverified_accounts_may_only_verify(
    app_factory: Any, smtp_sink: SmtpSink
) -> None:
    async with app_factory(email_verification_required=True, smtp_url=smtp_sink.url) as client:
        name = unique_name()
        email = f"{name}@example.com"
        account = await register(client, name, email=email)
        headers = bearer(account["access_token"])
        assert (await client.get("/me", headers=headers)).status_code == 200
        blocked = await client.get("/profile", headers=headers)
        assert blocked.status_code == 403
        assert "Verify" in blocked.json()["detail"]
        token = token_in((await smtp_sink.wait_for(email))[0])
        await client.post("/email/verify/confirm", json={"token": token})
        assert (await client.get("/profile", headers=headers)).status_code == 200
