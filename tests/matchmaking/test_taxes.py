"""Taxes on games that game servers settle (docs/operators.md, "Taxes"): /terminate with
settle_wallets withholds the excise from what a loss collects and the tax on winnings
from what a win pays, each posted to its liability account in the settlement's own
ledger transaction, told in the response, the game_result event and the wallet's lines,
and counted in the admin report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from gamehub.core.events import user_topic
from gamehub.models import Account, LedgerEntry, LedgerTransaction
from tests.admin.support import staff
from tests.matchmaking.support import (
    assert_ledger_clean,
    balance,
    key,
    public_stats,
    register,
    result,
)
from tests.stats.support import Player, players
from tests.support.apps import Served, served
from tests.wallet.support import fund


@pytest.fixture
async def api(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    """12.5% excise on stakes, 20% on winnings."""
    async with served(
        database_url,
        redis_url,
        leaderboard_cache_seconds=0,
        tax_stake_bps=1250,
        tax_winnings_bps=2000,
    ) as running:
        yield running


async def game(api: Served, game_id: str, *who: Player) -> dict[str, str]:
    """The game registered by matchmaking with its players; a game server's key."""
    await register(api, await key(api.runtime, "matchmaking"), game_id, *who)
    return await key(api.runtime, "game-server", max_payout_minor=1_000_000)


def settle(game_id: str, *results: dict[str, Any]) -> dict[str, Any]:
    return {"game_id": game_id, "results": list(results), "settle_wallets": True}


async def tax_entries(api: Served, kind: str) -> list[tuple[int, str]]:
    """Each posting to the tax account of ``kind``: its amount and its reference."""
    async with api.runtime.db.unit_of_work() as session:
        rows = await session.execute(
            select(LedgerEntry.amount, LedgerTransaction.reference)
            .join(Account, Account.id == LedgerEntry.account_id)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(Account.kind == kind)
            .order_by(LedgerEntry.id)
        )
        return [(int(amount), str(reference)) for amount, reference in rows]


async def house_entries(api: Served, reference: str) -> list[int]:
    async with api.runtime.db.unit_of_work() as session:
        rows = await session.scalars(
            select(LedgerEntry.amount)
            .join(Account, Account.id == LedgerEntry.account_id)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(Account.kind == "house", LedgerTransaction.reference == reference)
        )
        return [int(amount) for amount in rows]


async def test_a_win_is_taxed_on_its_earnings_and_a_loss_bears_the_excise(api: Served) -> None:
    winner, loser, even = await players(api.client, 3)
    await fund(api.runtime, loser.username, 10_000)
    gs = await game(api, "TAXED", winner, loser, even)

    body = settle(
        "TAXED",
        result(winner, "win", "30"),
        result(loser, "loss", "-30"),
        result(even, "draw", 0),
    )
    answer = await api.client.post("/terminate", json=body, headers=gs)
    assert answer.status_code == 200, answer.text
    by_user = {r["user_id"]: r for r in answer.json()["results"]}
    # 20% of the 30.00 won: 6.00 withheld, 24.00 paid; 12.5% of the 30.00 lost: 3.75.
    assert (by_user[winner.id]["earnings"], by_user[winner.id]["winnings_tax"]) == (30.0, 6.0)
    assert by_user[winner.id]["stake_tax"] == 0
    assert (by_user[loser.id]["earnings"], by_user[loser.id]["stake_tax"]) == (-30.0, 3.75)
    assert by_user[loser.id]["winnings_tax"] == 0
    assert (by_user[even.id]["stake_tax"], by_user[even.id]["winnings_tax"]) == (0, 0)
    assert [await balance(api, p) for p in (winner, loser, even)] == [24.0, 70.0, 0.0]

    assert await tax_entries(api, "tax_winnings") == [(600, f"terminate:TAXED:{winner.id}")]
    assert await tax_entries(api, "tax_stake") == [(375, f"terminate:TAXED:{loser.id}")]
    # The house pays the whole win and keeps the loss less its excise.
    assert await house_entries(api, f"terminate:TAXED:{winner.id}") == [-3_000]
    assert await house_entries(api, f"terminate:TAXED:{loser.id}") == [2_625]
    # The game server's stats record the earnings it reported.
    assert (await public_stats(api, winner))["earnings"] == 30.0
    await assert_ledger_clean(api)


async def test_a_replay_answers_the_taxes_the_ledger_holds(api: Served) -> None:
    winner, loser = await players(api.client, 2)
    await fund(api.runtime, loser.username, 10_000)
    gs = await game(api, "AGAIN", winner, loser)
    body = settle("AGAIN", result(winner, "win", "10.01"), result(loser, "loss", "-10.01"))
    first = await api.client.post("/terminate", json=body, headers=gs)
    assert first.status_code == 200, first.text

    again = await api.client.post("/terminate", json=body, headers=gs)
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "replayed": True}
    by_user = {r["user_id"]: r for r in again.json()["results"]}
    # Rounded down: 20% of 10.01 is 2.002, 12.5% of it 1.25125.
    assert by_user[winner.id]["winnings_tax"] == 2.0
    assert by_user[loser.id]["stake_tax"] == 1.25
    # Nothing was posted twice.
    assert [await balance(api, p) for p in (winner, loser)] == [8.01, 89.99]
    assert len(await tax_entries(api, "tax_winnings")) == 1
    assert len(await tax_entries(api, "tax_stake")) == 1
    await assert_ledger_clean(api)


async def test_a_tax_under_a_cent_posts_nothing(api: Served) -> None:
    winner, loser = await players(api.client, 2)
    await fund(api.runtime, loser.username, 10_000)
    gs = await game(api, "CENTS", winner, loser)
    # 20% of 0.04 and 12.5% of 0.07 are both under a cent.
    body = settle("CENTS", result(winner, "win", "0.04"), result(loser, "loss", "-0.07"))
    answer = await api.client.post("/terminate", json=body, headers=gs)
    assert answer.status_code == 200, answer.text
    assert {(r["stake_tax"], r["winnings_tax"]) for r in answer.json()["results"]} == {(0, 0)}
    assert [await balance(api, p) for p in (winner, loser)] == [0.04, 99.93]
    assert await tax_entries(api, "tax_winnings") == []
    assert await tax_entries(api, "tax_stake") == []
    await assert_ledger_clean(api)


async def test_results_not_settled_are_not_taxed(api: Served) -> None:
    winner, loser = await players(api.client, 2)
    gs = await game(api, "STATS", winner, loser)
    body = {
        "game_id": "STATS",
        "results": [result(winner, "win", "30"), result(loser, "loss", "-30")],
    }
    answer = await api.client.post("/terminate", json=body, headers=gs)
    assert answer.status_code == 200, answer.text
    assert {(r["stake_tax"], r["winnings_tax"]) for r in answer.json()["results"]} == {(0, 0)}
    assert await tax_entries(api, "tax_winnings") == []
    assert await tax_entries(api, "tax_stake") == []


async def test_a_loser_who_cannot_pay_leaves_no_tax_posted(api: Served) -> None:
    winner, broke = await players(api.client, 2)
    await fund(api.runtime, broke.username, 1_000)
    gs = await game(api, "BROKE", winner, broke)
    body = settle("BROKE", result(winner, "win", "30"), result(broke, "loss", "-30"))
    refused = await api.client.post("/terminate", json=body, headers=gs)
    assert refused.status_code == 409
    assert refused.json()["error"] == "InsufficientFunds"
    assert [await balance(api, p) for p in (winner, broke)] == [0.0, 10.0]
    assert await tax_entries(api, "tax_winnings") == []
    assert await tax_entries(api, "tax_stake") == []
    await assert_ledger_clean(api)


async def test_the_players_hear_the_taxes_in_the_result_and_their_wallet_lines(
    api: Served,
) -> None:
    winner, loser = await players(api.client, 2)
    await fund(api.runtime, loser.username, 10_000)
    gs = await game(api, "HEARD", winner, loser)
    subscription = await api.runtime.events.open([user_topic(winner.id), user_topic(loser.id)])
    try:
        body = settle("HEARD", result(winner, "win", "30"), result(loser, "loss", "-30"))
        answer = await api.client.post("/terminate", json=body, headers=gs)
        assert answer.status_code == 200, answer.text
        heard: list[dict[str, Any]] = []
        told: dict[str, Any] = {}
        # game_result comes first (the game's end before its money), then each movement.
        with anyio.fail_after(5):
            while len(heard) < 2 or not told:
                event = await subscription.get()
                if event is not None and event.name == "transaction_update":
                    heard.append(dict(event.data))
                elif event is not None and event.name == "game_result":
                    told = dict(event.data)
    finally:
        api.runtime.events.unsubscribe(subscription)
    assert told["results"] == answer.json()["results"]
    assert {e["reference"]: (e["amount"], e["tax"]) for e in heard} == {
        f"terminate:HEARD:{winner.id}": (24.0, 6.0),
        f"terminate:HEARD:{loser.id}": (-30.0, 3.75),
    }
    for who, amount, tax in ((winner, 24.0, 6.0), (loser, -30.0, 3.75)):
        lines = (await api.client.get("/wallet/transactions", headers=who.headers)).json()
        (line,) = [i for i in lines["items"] if i["reference"] == f"terminate:HEARD:{who.id}"]
        assert (line["amount"], line["tax"]) == (amount, tax)


async def test_the_report_counts_the_settlements_taxes_by_rule(api: Served) -> None:
    winner, loser = await players(api.client, 2)
    await fund(api.runtime, loser.username, 10_000)
    gs = await game(api, "REPORTED", winner, loser)
    body = settle("REPORTED", result(winner, "win", "30"), result(loser, "loss", "-30"))
    assert (await api.client.post("/terminate", json=body, headers=gs)).status_code == 200
    finance = await staff(api, "finance")
    response = await api.client.get("/admin/reports", headers=finance.headers)
    assert response.status_code == 200, response.text
    taxes = {row["rule"]: (row["count"], row["total"]) for row in response.json()["taxes"]}
    assert taxes == {
        "stake": (1, 3.75),
        "deposit": (0, 0),
        "withdrawal": (0, 0),
        "winnings": (1, 6.0),
    }
