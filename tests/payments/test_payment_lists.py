"""GET /deposits and GET /withdrawals: the caller's own payments, in every state, paged
like every list; and /deposit's phone, the account's own when the body has none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gamehub.core.mpesa.client import normalise_msisdn
from tests.payments.conftest import PaymentsApi
from tests.payments.support import (
    PHONE,
    Player,
    fund,
    new_player,
    unique_phone,
    wait_for_status,
)
from tests.support.api import ADULT_DOB, PASSWORD, unique_name
from tests.support.sse import WAIT_SECONDS, SseEvent, http_events


@pytest.fixture
async def http(payments_api: PaymentsApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=payments_api.base_url, timeout=30) as client:
        yield client


async def deposit(http: httpx.AsyncClient, who: Player, amount: int) -> dict[str, Any]:
    response = await http.post(
        "/deposit", headers=who.headers, json={"amount": amount, "phone": PHONE}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def listed(http: httpx.AsyncClient, who: Player, path: str, **params: Any) -> httpx.Response:
    return await http.get(path, headers=who.headers, params=params)


async def test_deposits_list_the_callers_own_in_every_state_newest_first(
    http: httpx.AsyncClient,
) -> None:
    me, someone_else = await new_player(http), await new_player(http)
    credited = await deposit(http, me, 250)
    await wait_for_status(http, f"/deposits/{credited['deposit_id']}", me, {"completed"})
    # Scenario 11: the customer's balance is insufficient; 91: no answer ever comes.
    refused = await deposit(http, me, 111)
    await wait_for_status(http, f"/deposits/{refused['deposit_id']}", me, {"failed"})
    unanswered = await deposit(http, me, 191)
    await deposit(http, someone_else, 250)

    response = await listed(http, me, "/deposits")
    assert response.status_code == 200, response.text
    page = response.json()
    assert [(d["deposit_id"], d["status"]) for d in page["items"]] == [
        (unanswered["deposit_id"], "pending"),
        (refused["deposit_id"], "failed"),
        (credited["deposit_id"], "completed"),
    ]
    assert page["next_cursor"] is None
    assert "x-next-cursor" not in response.headers
    assert page["items"][2]["settled_at"] is not None
    assert page["items"][0]["settled_at"] is None

    only_failed = (await listed(http, me, "/deposits", status="failed")).json()["items"]
    assert [d["deposit_id"] for d in only_failed] == [refused["deposit_id"]]


async def test_deposit_pages_follow_the_cursor_in_body_and_header(
    http: httpx.AsyncClient,
) -> None:
    me = await new_player(http)
    made = [(await deposit(http, me, 191))["deposit_id"] for _ in range(3)]
    first = await listed(http, me, "/deposits", limit=2)
    body = first.json()
    assert [d["deposit_id"] for d in body["items"]] == made[:0:-1]
    assert body["next_cursor"] == first.headers["x-next-cursor"]
    second = (await listed(http, me, "/deposits", limit=2, cursor=body["next_cursor"])).json()
    assert [d["deposit_id"] for d in second["items"]] == made[:1]
    assert second["next_cursor"] is None


async def test_withdrawals_list_the_callers_own_failed_ones_included(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    me, someone_else = await new_player(http), await new_player(http)
    for who in (me, someone_else):
        await fund(payments_api.database_url, who.username, 100_000)

    async def withdraw(who: Player, amount: int) -> dict[str, Any]:
        response = await http.post(
            "/withdraw", headers=who.headers, json={"amount": amount, "phone": PHONE}
        )
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    paid = await withdraw(me, 250)
    await wait_for_status(http, f"/withdrawals/{paid['withdrawal_id']}", me, {"completed"})
    # Scenario 11: M-Pesa refuses the payout; the hold is refunded.
    refused = await withdraw(me, 111)
    await wait_for_status(http, f"/withdrawals/{refused['withdrawal_id']}", me, {"failed"})
    await withdraw(someone_else, 250)

    page = (await listed(http, me, "/withdrawals")).json()
    assert [(w["withdrawal_id"], w["status"]) for w in page["items"]] == [
        (refused["withdrawal_id"], "failed"),
        (paid["withdrawal_id"], "completed"),
    ]
    # Settled, under the same name as a deposit's and a bet's.
    assert all(w["settled_at"] is not None for w in page["items"])
    assert "completed_at" not in page["items"][0]


@pytest.mark.parametrize("path", ["/deposits", "/withdrawals"])
@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"cursor": "x1"}, "cursor: "),
        ({"cursor": "99999999999"}, "cursor: "),
        ({"limit": 0}, "limit"),
        ({"limit": 1_000_000}, "limit"),
        ({"status": "lost"}, "status: must be one of"),
        ({"since": "2026-11-22", "until": "2026-11-21"}, "until: must be after since"),
        ({"since": "yesterday"}, "since: not a date"),
    ],
)
async def test_payment_lists_refuse_what_they_cannot_mean(
    http: httpx.AsyncClient, path: str, params: dict[str, Any], detail: str
) -> None:
    me = await new_player(http)
    response = await listed(http, me, path, **params)
    assert response.status_code in (400, 422), response.text
    assert detail in response.json()["detail"]
    assert (await http.get(path)).status_code == 401


async def test_a_deposit_without_a_phone_prompts_the_accounts_own(
    http: httpx.AsyncClient,
) -> None:
    username, phone = unique_name(), unique_phone()
    registered = await http.post(
        "/register",
        json={"username": username, "password": PASSWORD, "phone": phone, "dob": ADULT_DOB},
    )
    assert registered.status_code == 201, registered.text
    me = Player(
        username,
        registered.json()["id"],
        {"Authorization": f"Bearer {registered.json()['access_token']}"},
    )
    response = await http.post("/deposit", headers=me.headers, json={"amount": 250})
    assert response.status_code == 202, response.text
    assert response.json()["phone"] == normalise_msisdn(phone)


async def test_a_deposit_without_a_phone_from_an_account_without_one_is_422(
    http: httpx.AsyncClient,
) -> None:
    me = await new_player(http)
    response = await http.post("/deposit", headers=me.headers, json={"amount": 250})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("phone: required")
    assert (await listed(http, me, "/deposits")).json()["items"] == []


async def test_each_payment_movement_reaches_the_player_as_the_wallet_lists_it(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    me = await new_player(http)
    heard: asyncio.Queue[SseEvent] = asyncio.Queue()

    async def listen() -> None:
        async with http.stream("GET", "/events/connect", headers=me.headers) as response:
            async for event in http_events(response):
                heard.put_nowait(event)

    async def next_movement() -> dict[str, Any]:
        while True:
            event = await asyncio.wait_for(heard.get(), WAIT_SECONDS)
            if event.event == "transaction_update":
                data: dict[str, Any] = event.json()
                return data

    listener = asyncio.create_task(listen())
    try:
        while (await asyncio.wait_for(heard.get(), WAIT_SECONDS)).event != "connected":
            pass
        credited = await deposit(http, me, 250)
        await wait_for_status(http, f"/deposits/{credited['deposit_id']}", me, {"completed"})
        # Scenario 11: M-Pesa refuses the payout, and the hold comes back.
        refused = await http.post(
            "/withdraw", headers=me.headers, json={"amount": 111, "phone": PHONE}
        )
        assert refused.status_code == 202, refused.text
        told = [await next_movement() for _ in range(3)]
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    listed = (await http.get("/wallet/transactions", headers=me.headers)).json()["items"]
    keys = ("id", "category", "amount", "balance_after", "reference", "description")
    assert [tuple(t[k] for k in keys) for t in told] == [
        tuple(i[k] for k in keys) for i in reversed(listed)
    ]
    assert [(t["category"], t["balance_after"]) for t in told] == [
        ("deposit", 250),
        ("withdrawal", 139),
        ("refund", 250),
    ]
