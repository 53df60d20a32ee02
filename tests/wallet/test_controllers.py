"""GET /wallet and the paginated, filterable GET /wallet/transactions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gamehub.core.runtime import Runtime
from tests.support.api import Client, bearer, register
from tests.wallet.support import fund


async def test_a_new_wallet_is_empty(client: Client) -> None:
    account = await register(client)
    wallet = (await client.get("/wallet", headers=bearer(account["access_token"]))).json()
    assert wallet == {"balance": 0, "currency": "KES", "held": 0}


async def test_balance_is_in_major_units(client: Client, runtime: Runtime) -> None:
    account = await register(client)
    await fund(runtime, account["username"], 1_234_56)
    wallet = (await client.get("/wallet", headers=bearer(account["access_token"]))).json()
    assert wallet["balance"] == 1234.56


async def test_transactions_are_newest_first_with_running_balance(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    await fund(runtime, account["username"], 10_000, "first")
    await fund(runtime, account["username"], -2_500, "second")
    page = (
        await client.get("/wallet/transactions", headers=bearer(account["access_token"]))
    ).json()
    assert [(i["description"], i["amount"], i["balance_after"]) for i in page["items"]] == [
        ("second", -25.0, 75.0),
        ("first", 100.0, 100.0),
    ]
    assert page["items"][0]["category"] == "adjustment"
    assert page["items"][0]["status"] == "completed"
    assert page["next_cursor"] is None


async def test_pages_follow_the_cursor_without_gaps_or_repeats(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    for index in range(7):
        await fund(runtime, account["username"], 100 + index, f"credit {index}")
    headers = bearer(account["access_token"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/wallet/transactions", headers=headers, params=params)).json()
        seen.extend(item["description"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"credit {i}" for i in reversed(range(7))]


async def test_filters_by_category_and_date(client: Client, runtime: Runtime) -> None:
    account = await register(client)
    await fund(runtime, account["username"], 500)
    headers = bearer(account["access_token"])
    none = await client.get("/wallet/transactions", headers=headers, params={"category": "win"})
    assert none.json()["items"] == []
    some = await client.get(
        "/wallet/transactions", headers=headers, params={"category": "adjustment"}
    )
    assert len(some.json()["items"]) == 1
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = await client.get("/wallet/transactions", headers=headers, params={"since": tomorrow})
    assert later.json()["items"] == []
    earlier = await client.get("/wallet/transactions", headers=headers, params={"until": tomorrow})
    assert len(earlier.json()["items"]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"category": "lottery"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"cursor": "abc"},
        {"since": "yesterday"},
    ],
)
async def test_bad_query_parameters_are_4xx(client: Client, params: dict[str, str]) -> None:
    account = await register(client)
    response = await client.get(
        "/wallet/transactions", headers=bearer(account["access_token"]), params=params
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationError"
    assert response.json()["field"] == next(iter(params))


async def test_one_user_never_sees_anothers_transactions(client: Client, runtime: Runtime) -> None:
    alice = await register(client)
    bob = await register(client)
    await fund(runtime, alice["username"], 900)
    page = (await client.get("/wallet/transactions", headers=bearer(bob["access_token"]))).json()
    assert page["items"] == []


async def test_wallet_routes_need_authentication(client: Client) -> None:
    assert (await client.get("/wallet")).status_code == 401
    assert (await client.get("/wallet/transactions")).status_code == 401
