"""Taxes on payments (docs/operators.md, "Taxes"), against the API server and the Daraja
simulator: the deposit tax is withheld from what the wallet is credited, the withdrawal
tax is charged on top of what M-Pesa sends, and a failed withdrawal gives both back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import select

from gamehub.models import Account, LedgerEntry, LedgerTransaction, Withdrawal
from tests.payments.conftest import PaymentsApi, RunningSimulator, serve_payments_api
from tests.payments.support import (
    PHONE,
    Player,
    assert_ledger_ok,
    balance,
    database,
    fund,
    new_player,
    row,
    wait_for_status,
)


@pytest.fixture(scope="module")
def payments_api(
    simulator: RunningSimulator, database_url: str, redis_url: str | None
) -> Iterator[PaymentsApi]:
    """3.33% on deposits, 12.5% on withdrawals."""
    with serve_payments_api(
        simulator,
        database_url,
        redis_url,
        GAMEHUB_TAX_DEPOSIT_BPS="333",
        GAMEHUB_TAX_WITHDRAWAL_BPS="1250",
    ) as api:
        yield api


@pytest.fixture
async def http(payments_api: PaymentsApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=payments_api.base_url, timeout=60) as client:
        yield client


async def tax_postings(url: str, kind: str, reference: str) -> list[int]:
    """What the transaction of ``reference`` posted to the tax account of ``kind``."""
    async with database(url) as db, db.unit_of_work() as session:
        amounts = await session.scalars(
            select(LedgerEntry.amount)
            .join(Account, Account.id == LedgerEntry.account_id)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(Account.kind == kind, LedgerTransaction.reference == reference)
        )
        return [int(a) for a in amounts]


async def lines(http: httpx.AsyncClient, player: Player) -> list[tuple[str, float, float]]:
    items = (await http.get("/wallet/transactions", headers=player.headers)).json()["items"]
    return [(i["category"], i["amount"], i["tax"]) for i in items]


async def _funded(http: httpx.AsyncClient, api: PaymentsApi, amount_minor: int) -> Player:
    player = await new_player(http)
    await fund(api.database_url, player.username, amount_minor)
    return player


async def _withdraw(http: httpx.AsyncClient, player: Player, amount: int) -> httpx.Response:
    return await http.post(
        "/withdraw", headers=player.headers, json={"amount": amount, "phone": PHONE}
    )


async def test_a_deposit_is_credited_less_its_tax_rounded_down(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await new_player(http)
    started = await http.post(
        "/deposit", headers=player.headers, json={"amount": 250, "phone": PHONE}
    )
    assert started.status_code == 202, started.text
    # Nothing is withheld before M-Pesa has paid.
    assert started.json()["tax"] == 0
    deposit_id = started.json()["deposit_id"]
    done = await wait_for_status(http, f"/deposits/{deposit_id}", player, {"completed", "failed"})
    assert done["status"] == "completed"
    # 3.33% of 250.00 is 8.325: 8.32.
    assert (done["amount"], done["tax"]) == (250, 8.32)
    assert await balance(http, player) == 241.68
    assert await lines(http, player) == [("deposit", 241.68, 8.32)]
    listed = (await http.get("/deposits", headers=player.headers)).json()["items"]
    assert [d["tax"] for d in listed] == [8.32]
    assert await tax_postings(
        payments_api.database_url, "tax_deposit", f"mpesa-deposit:{deposit_id}"
    ) == [832]
    await assert_ledger_ok(payments_api.database_url)


async def test_a_withdrawal_is_charged_its_tax_on_top_of_what_mpesa_sends(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await _funded(http, payments_api, 100_000)
    response = await _withdraw(http, player, 250)
    assert response.status_code == 202, response.text
    started = response.json()
    # 12.5% of 250.00: 31.25, held with it.
    assert (started["amount"], started["tax"]) == (250, 31.25)
    assert started["new_balance"] == 718.75
    path = f"/withdrawals/{started['withdrawal_id']}"
    done = await wait_for_status(http, path, player, {"completed", "failed"})
    assert (done["status"], done["tax"]) == ("completed", 31.25)
    wallet = (await http.get("/wallet", headers=player.headers)).json()
    assert wallet == {"balance": 718.75, "currency": "KES", "held": 0}
    assert (await lines(http, player))[0] == ("withdrawal", -281.25, 31.25)
    withdrawal = await row(payments_api.database_url, Withdrawal, started["withdrawal_id"])
    hold = f"withdrawal-hold:{withdrawal.originator_conversation_id}"
    assert await tax_postings(payments_api.database_url, "tax_withdrawal", hold) == [3125]
    await assert_ledger_ok(payments_api.database_url)


async def test_a_failed_withdrawal_gives_its_tax_back_with_the_amount(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await _funded(http, payments_api, 50_000)
    started = (await _withdraw(http, player, 103)).json()
    # 12.5% of 103.00 is 12.875: 12.87.
    assert started["tax"] == 12.87
    path = f"/withdrawals/{started['withdrawal_id']}"
    done = await wait_for_status(http, path, player, {"completed", "failed"})
    assert done["status"] == "failed"
    assert await balance(http, player) == 500
    assert (await lines(http, player))[:2] == [
        ("refund", 115.87, -12.87),
        ("withdrawal", -115.87, 12.87),
    ]
    withdrawal = await row(payments_api.database_url, Withdrawal, started["withdrawal_id"])
    originator = withdrawal.originator_conversation_id
    url = payments_api.database_url
    assert await tax_postings(url, "tax_withdrawal", f"withdrawal-hold:{originator}") == [1287]
    assert await tax_postings(url, "tax_withdrawal", f"withdrawal-refund:{originator}") == [-1287]
    await assert_ledger_ok(url)


async def test_a_balance_that_covers_the_amount_but_not_its_tax_holds_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await _funded(http, payments_api, 25_000)
    refused = await _withdraw(http, player, 250)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "InsufficientFunds"
    assert await balance(http, player) == 250
    assert [category for category, _, _ in await lines(http, player)] == ["adjustment"]
    assert (await http.get("/withdrawals", headers=player.headers)).json()["items"] == []
    await assert_ledger_ok(payments_api.database_url)
