"""GET /stats, POST /stats and GET /history over real spins."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.stats.support import Player, players, settle
from tests.support.apps import Served, served
from tests.wallet.support import fund

STAKE = 10


@pytest.fixture
async def api(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    async with served(database_url, redis_url) as running:
        yield running


async def spin(client: httpx.AsyncClient, who: Player) -> dict[str, Any]:
    response = await client.post(
        "/games/spin-and-win/play", headers=who.headers, json={"bet_amount": STAKE}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def funded(api: Served, count: int = 1) -> list[Player]:
    made = await players(api.client, count)
    for who in made:
        await fund(api.runtime, who.username, 100_000)
    return made


async def test_own_stats_overall_and_per_game(api: Served) -> None:
    (me,) = await funded(api)
    spins = [await spin(api.client, me) for _ in range(4)]
    await settle(api.runtime, [(me, 1_234, True)], game="poker")
    won = sum(Decimal(str(s["win_amount"])) for s in spins)
    wins = sum(1 for s in spins if s["multiplier"] > 1)
    losses = sum(1 for s in spins if s["multiplier"] < 1)
    spin_earnings = won - 4 * STAKE

    response = await api.client.get("/stats", headers=me.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["overall"] == {
        "total_bets": 4,
        "total_wagered": 40.0,
        "total_won": float(won),
        "net_profit": float(spin_earnings),
        "win_count": wins + 1,
        "loss_count": losses,
        "earnings": float(spin_earnings + Decimal("12.34")),
    }
    assert body["by_game"] == [
        {
            "game": "poker",
            "total_bets": 0,
            "total_wagered": 0.0,
            "total_won": 0.0,
            "net_profit": 0.0,
            "win_count": 1,
            "loss_count": 0,
            "earnings": 12.34,
        },
        {
            "game": "spin-and-win",
            "total_bets": 4,
            "total_wagered": 40.0,
            "total_won": float(won),
            "net_profit": float(spin_earnings),
            "win_count": wins,
            "loss_count": losses,
            "earnings": float(spin_earnings),
        },
    ]
    assert (await api.client.get("/stats")).status_code == 401


async def test_a_newcomer_has_zeroes(api: Served) -> None:
    (me,) = await players(api.client, 1)
    body = (await api.client.get("/stats", headers=me.headers)).json()
    assert body["overall"]["total_bets"] == 0
    assert body["overall"]["earnings"] == 0.0
    assert body["by_game"] == []


async def test_public_stats_show_the_wallet_only_to_its_owner(api: Served) -> None:
    me, other = await players(api.client, 2)
    await fund(api.runtime, me.username, 4_200)
    await settle(api.runtime, [(me, 300, True), (other, -300, False)])

    anonymous = await api.client.post("/stats", json={"username": me.username.upper()})
    assert anonymous.status_code == 200
    assert anonymous.json() == {
        "username": me.username,
        "user_id": me.id,
        "win_count": 1,
        "loss_count": 0,
        "earnings": 3.0,
    }
    own = await api.client.post("/stats", json={"username": me.username}, headers=me.headers)
    assert own.json()["wallet"] == 42.0
    theirs = await api.client.post("/stats", json={"username": me.username}, headers=other.headers)
    assert "wallet" not in theirs.json()
    loser = (await api.client.post("/stats", json={"username": other.username})).json()
    assert (loser["loss_count"], loser["earnings"]) == (1, -3.0)

    assert (await api.client.post("/stats", json={"username": "nobody_here"})).status_code == 404
    assert (await api.client.post("/stats", json={})).status_code == 422
    bad_token = await api.client.post(
        "/stats", json={"username": me.username}, headers={"Authorization": "Bearer nope"}
    )
    assert bad_token.status_code == 401


async def test_history_pages_newest_first_with_fairness(api: Served) -> None:
    me, other = await funded(api, 2)
    spins = [await spin(api.client, me) for _ in range(3)]
    await spin(api.client, other)

    first = await api.client.get("/history", params={"limit": 2}, headers=me.headers)
    assert first.status_code == 200
    page = first.json()
    assert [item["id"] for item in page] == [spins[2]["bet_id"], spins[1]["bet_id"]]
    item = page[0]
    assert item["game"] == "spin-and-win"
    assert item["bet_amount"] == STAKE
    assert item["win_amount"] == spins[2]["win_amount"]
    assert item["net_result"] == float(Decimal(str(spins[2]["win_amount"])) - STAKE)
    assert item["server_seed_hash"] == spins[2]["fairness"]["server_seed_hash"]
    assert item["nonce"] == spins[2]["fairness"]["nonce"]
    assert item["client_seed"] == spins[2]["fairness"]["client_seed"]
    assert item["server_seed"] is None
    assert item["status"] in ("won", "lost", "push")
    assert "created_at" in item

    cursor = first.headers["X-Next-Cursor"]
    rest = await api.client.get(
        "/history", params={"limit": 2, "cursor": cursor}, headers=me.headers
    )
    assert [i["id"] for i in rest.json()] == [spins[0]["bet_id"]]
    assert "X-Next-Cursor" not in rest.headers

    # Rotating reveals the seed those bets used.
    assert (await api.client.post("/fairness/rotate", headers=me.headers)).status_code == 200
    revealed = (await api.client.get("/history", headers=me.headers)).json()[0]
    assert revealed["server_seed"] is not None
    assert (
        hashlib.sha256(revealed["server_seed"].encode()).hexdigest() == revealed["server_seed_hash"]
    )


async def test_history_filters_by_game_and_date(api: Served) -> None:
    (me,) = await funded(api)
    await spin(api.client, me)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()

    async def count(**query: str) -> int:
        response = await api.client.get("/history", params=query, headers=me.headers)
        assert response.status_code == 200, response.text
        return len(response.json())

    assert await count(game="spin-and-win") == 1
    assert await count(game="russian-roulette") == 0
    assert await count(since=yesterday) == 1
    assert await count(since=tomorrow) == 0
    assert await count(until=yesterday) == 0
    assert await count(since=yesterday, until=tomorrow) == 1
    bet = (await api.client.get("/history", headers=me.headers)).json()[0]
    today = datetime.fromisoformat(bet["created_at"]).date()
    assert await count(since=today.isoformat(), until=today.isoformat()) == 1
    assert await count(until=(today - timedelta(days=1)).isoformat()) == 0
    assert (
        await api.client.get("/history", params={"since": "soon"}, headers=me.headers)
    ).status_code == 422
    bad = await api.client.get("/history", params={"cursor": "x1"}, headers=me.headers)
    assert bad.status_code == 422
    assert (await api.client.get("/history")).status_code == 401
