"""Each route's rate limits: reached, refused with 429, Retry-After and the named error's
body, while another caller (address, account) carries on. Every limit not under test is
the suite's generous one; the limits under test are set small.

Deposits and withdrawals, which need the M-Pesa simulator, are in
tests/payments/test_rate_limits.py; the limiter itself in tests/core/test_ratelimit.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.support.api import PASSWORD, bearer, register, unique_name
from tests.support.server import GENEROUS_RATE_LIMITS

# The in-process client's address: trusted as a proxy here, so that X-Forwarded-For
# stands for the client's address.
PROXY = "127.0.0.1"
ADDRESS_A = {"X-Forwarded-For": "198.51.100.10"}
ADDRESS_B = {"X-Forwarded-For": "198.51.100.20"}


def limits(**rates: str) -> dict[str, Any]:
    return {"rate_limits": {**GENEROUS_RATE_LIMITS, **rates}, "trusted_proxies": [PROXY]}


def assert_rate_limited(response: httpx.Response, limit: str) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "RateLimited"
    assert body["limit"] == limit
    assert body["detail"]
    assert int(response.headers["Retry-After"]) == body["retry_after"] >= 1


Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def _reach(client: httpx.AsyncClient, send: Send, times: int) -> list[int]:
    return [(await send(client)).status_code for _ in range(times)]


# Per client address


async def test_registrations_are_limited_per_address(app_factory: Any) -> None:
    async with app_factory(**limits(register_ip="2/minute")) as client:

        def sign_up(headers: dict[str, str], path: str = "/register") -> Send:
            async def send(c: httpx.AsyncClient) -> httpx.Response:
                body = {"username": unique_name(), "password": PASSWORD}
                return await c.post(path, json=body, headers=headers)

            return send

        assert await _reach(client, sign_up(ADDRESS_A), 2) == [201, 201]
        assert_rate_limited(await sign_up(ADDRESS_A)(client), "register_ip")
        # The seed's form of registration shares the allowance.
        assert_rate_limited(await sign_up(ADDRESS_A, "/create_user")(client), "register_ip")
        assert (await sign_up(ADDRESS_B)(client)).status_code == 201


async def test_registrations_naming_one_email_are_limited(app_factory: Any) -> None:
    async with app_factory(**limits(register_email="3/hour")) as client:
        email = f"{unique_name()}@example.com"

        async def send(c: httpx.AsyncClient, address: str = email) -> httpx.Response:
            body = {"username": unique_name(), "password": PASSWORD, "email": address}
            return await c.post("/register", json=body)

        # Taken after the first: each later attempt would mail its owner.
        assert await _reach(client, send, 3) == [201, 409, 409]
        assert_rate_limited(await send(client, email.upper()), "register_email")
        assert (await send(client, f"{unique_name()}@example.com")).status_code == 201


async def test_logins_are_limited_per_address_and_per_account(app_factory: Any) -> None:
    async with app_factory(**limits(login_ip="3/minute", login_account="2/minute")) as client:
        first, second, third = [await register(client) for _ in range(3)]

        async def log_in(name: str, headers: dict[str, str]) -> httpx.Response:
            body = {"username": name, "password": PASSWORD}
            return await client.post("/login", json=body, headers=headers)

        # Per account, from any address: the name counts, whatever its case.
        assert (await log_in(first["username"], ADDRESS_A)).status_code == 200
        assert (await log_in(first["username"].upper(), ADDRESS_B)).status_code == 200
        assert_rate_limited(await log_in(first["username"], ADDRESS_B), "login_account")
        # Per address, across accounts: A has spent one of its three.
        assert (await log_in(second["username"], ADDRESS_A)).status_code == 200
        assert (await log_in(third["username"], ADDRESS_A)).status_code == 200
        assert_rate_limited(await log_in(third["username"], ADDRESS_A), "login_ip")
        assert (await log_in(second["username"], ADDRESS_B)).status_code == 200


async def test_the_failed_login_lockout_still_applies(app_factory: Any) -> None:
    async with app_factory(**limits(), lockout_threshold=2) as client:
        account = await register(client)
        body = {"username": account["username"], "password": "not-the-password"}
        for _ in range(2):
            assert (await client.post("/login", json=body)).status_code == 401
        locked = await client.post("/login", json=body)
        assert locked.status_code == 429
        assert locked.json()["error"] == "AccountLocked"


async def test_password_reset_requests_are_limited_per_address_and_per_email(
    app_factory: Any,
) -> None:
    rates = limits(password_forgot_ip="3/hour", password_forgot_email="2/hour")
    async with app_factory(**rates) as client:

        async def forgot(email: str, headers: dict[str, str]) -> httpx.Response:
            return await client.post("/password/forgot", json={"email": email}, headers=headers)

        email = f"{unique_name()}@example.com"
        assert (await forgot(email, ADDRESS_A)).status_code == 202
        assert (await forgot(email, ADDRESS_B)).status_code == 202
        assert_rate_limited(await forgot(email, ADDRESS_B), "password_forgot_email")
        others = [f"{unique_name()}@example.com" for _ in range(3)]
        assert (await forgot(others[0], ADDRESS_A)).status_code == 202
        assert (await forgot(others[1], ADDRESS_A)).status_code == 202
        assert_rate_limited(await forgot(others[2], ADDRESS_A), "password_forgot_ip")
        assert (await forgot(others[2], ADDRESS_B)).status_code == 202


async def test_verification_mail_requests_are_limited_per_address_and_per_account(
    app_factory: Any,
) -> None:
    rates = limits(verify_email_ip="2/hour", verify_email_user="2/hour")
    async with app_factory(**rates) as client:
        accounts = [await register(client, email=f"{unique_name()}@example.com") for _ in range(2)]
        first, second = (bearer(a["access_token"]) for a in accounts)

        async def ask(headers: dict[str, str], address: dict[str, str]) -> httpx.Response:
            return await client.post("/email/verify/request", headers={**headers, **address})

        assert (await ask(first, ADDRESS_A)).status_code == 202
        assert (await ask(first, ADDRESS_B)).status_code == 202
        assert_rate_limited(await ask(first, ADDRESS_B), "verify_email_user")
        assert (await ask(second, ADDRESS_A)).status_code == 202
        assert_rate_limited(await ask(second, ADDRESS_A), "verify_email_ip")
        assert (await ask(second, {"X-Forwarded-For": "198.51.100.30"})).status_code == 202


# Per account: every request counts, whatever it answers, and one player's allowance is
# not another's.

PER_ACCOUNT = [
    ("spin_user", "/games/spin-and-win/play", {"bet_amount": 10}),
    ("join_user", "/games/join", {"stake": 10, "max_players": 2}),
    (
        "place_bet_user",
        "/games/place-bet",
        {"roulette_id": 999999, "player_id": 1, "bet_type": "survival", "bet_amount": 1},
    ),
    ("pull_trigger_user", "/games/pull-trigger", {"roulette_id": 999999}),
    ("events_ticket_user", "/events/ticket", None),
]


@pytest.mark.parametrize(("limit", "path", "body"), PER_ACCOUNT, ids=[c[0] for c in PER_ACCOUNT])
async def test_game_and_event_routes_are_limited_per_account(
    app_factory: Any, limit: str, path: str, body: dict[str, Any] | None
) -> None:
    rates = limits(**{limit: "2/minute"})
    async with app_factory(**rates, welcome_bonus_minor=1_000_000) as client:
        first, second = [bearer((await register(client))["access_token"]) for _ in range(2)]

        async def send(headers: dict[str, str]) -> httpx.Response:
            return await client.post(path, json=body, headers=headers)

        answered = [(await send(first)).status_code for _ in range(2)]
        assert 429 not in answered
        assert_rate_limited(await send(first), limit)
        assert (await send(second)).status_code == answered[0]


async def test_a_replay_of_a_keyed_request_is_not_counted(app_factory: Any) -> None:
    rates = limits(spin_user="1/minute")
    async with app_factory(**rates, welcome_bonus_minor=1_000_000) as client:
        headers = bearer((await register(client))["access_token"])
        spin = {"bet_amount": 10}
        keyed = {**headers, "Idempotency-Key": unique_name("key")}
        first = await client.post("/games/spin-and-win/play", json=spin, headers=keyed)
        assert first.status_code == 200
        # The stored answer, sent again: no new spin, so nothing to limit.
        again = await client.post("/games/spin-and-win/play", json=spin, headers=keyed)
        assert again.status_code == 200
        assert again.json() == first.json()
        other = {**headers, "Idempotency-Key": unique_name("key")}
        assert_rate_limited(
            await client.post("/games/spin-and-win/play", json=spin, headers=other), "spin_user"
        )


async def test_behind_no_trusted_proxy_a_forwarded_address_is_ignored(app_factory: Any) -> None:
    rates = {"rate_limits": {**GENEROUS_RATE_LIMITS, "register_ip": "1/minute"}}
    async with app_factory(**rates) as client:

        async def sign_up(headers: dict[str, str]) -> httpx.Response:
            body = {"username": unique_name(), "password": PASSWORD}
            return await client.post("/register", json=body, headers=headers)

        assert (await sign_up(ADDRESS_A)).status_code == 201
        # Without a trusted proxy the peer is the client, whatever the header claims.
        assert_rate_limited(await sign_up(ADDRESS_B), "register_ip")


async def test_a_trusted_proxy_network_forwards_the_last_untrusted_hop(app_factory: Any) -> None:
    rates = {
        "rate_limits": {**GENEROUS_RATE_LIMITS, "register_ip": "1/minute"},
        "trusted_proxies": ["127.0.0.0/8", "10.0.0.0/8"],
    }
    async with app_factory(**rates) as client:

        async def sign_up(forwarded: str) -> httpx.Response:
            body = {"username": unique_name(), "password": PASSWORD}
            return await client.post("/register", json=body, headers={"X-Forwarded-For": forwarded})

        # A client can put anything first; the proxies' own hops are skipped.
        assert (await sign_up("203.0.113.9, 198.51.100.30, 10.1.2.3")).status_code == 201
        assert_rate_limited(await sign_up("192.0.2.1, 198.51.100.30, 10.9.9.9"), "register_ip")
        assert (await sign_up("198.51.100.31, 10.1.2.3")).status_code == 201
