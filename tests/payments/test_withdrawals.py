"""Withdrawals by B2C: hold, pay out or refund, and never pay twice."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from gamehub.models import Withdrawal
from gamehub.payments.service.withdrawals import to_review
from tests.payments.conftest import PaymentsApi, RunningSimulator
from tests.payments.support import (
    PHONE,
    Player,
    assert_ledger_ok,
    balance,
    database,
    fund,
    new_player,
    run_cli,
    wait_for_status,
)


@pytest.fixture
async def http(payments_api: PaymentsApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=payments_api.base_url, timeout=60) as client:
        yield client


async def _funded(http: httpx.AsyncClient, api: PaymentsApi, amount_minor: int) -> Player:
    player = await new_player(http)
    await fund(api.database_url, player.username, amount_minor)
    return player


async def _withdraw(http: httpx.AsyncClient, player: Player, amount: object) -> httpx.Response:
    return await http.post(
        "/withdraw", headers=player.headers, json={"amount": amount, "phone": PHONE}
    )


async def test_a_payout_holds_then_completes(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await _funded(http, payments_api, 100_000)
    response = await _withdraw(http, player, 250)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["new_balance"] == 750
    wallet = (await http.get("/wallet", headers=player.headers)).json()
    assert wallet["balance"] == 750
    done = await wait_for_status(
        http, f"/withdrawals/{started['withdrawal_id']}", player, {"completed", "failed"}
    )
    assert done["status"] == "completed"
    assert done["mpesa_receipt"]
    wallet = (await http.get("/wallet", headers=player.headers)).json()
    assert wallet == {"balance": 750, "currency": "KES", "held": 0}
    await assert_ledger_ok(payments_api.database_url)


@pytest.mark.parametrize(("amount", "code"), [(103, "SFC_IC0003"), (111, "1"), (140, "2040")])
async def test_a_failed_payout_is_refunded(
    http: httpx.AsyncClient, payments_api: PaymentsApi, amount: int, code: str
) -> None:
    player = await _funded(http, payments_api, 50_000)
    started = (await _withdraw(http, player, amount)).json()
    done = await wait_for_status(
        http, f"/withdrawals/{started['withdrawal_id']}", player, {"completed", "failed"}
    )
    assert done["status"] == "failed"
    assert done["result_code"] == code
    assert await balance(http, player) == 500
    history = (await http.get("/wallet/transactions", headers=player.headers)).json()["items"]
    assert [i["category"] for i in history[:2]] == ["refund", "withdrawal"]
    assert history[1]["status"] == "failed"
    await assert_ledger_ok(payments_api.database_url)


async def test_insufficient_funds_is_409_and_holds_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await _funded(http, payments_api, 5_000)
    response = await _withdraw(http, player, 51)
    assert response.status_code == 409
    assert response.json()["error"] == "InsufficientFunds"
    assert await balance(http, player) == 50


@pytest.mark.parametrize(
    ("amount", "code", "detail"),
    [(5, "WithdrawalOutOfRange", "withdrawals are"),
     (200_000, "WithdrawalOutOfRange", "withdrawals are"),
     (0, "ValidationError", "greater than zero"), (-100, "ValidationError", "greater than zero"),
     ("100.5", "WholeShillingsOnly", "whole shillings")],
)  # fmt: skip
async def test_limits_and_bad_amounts_are_422(
    http: httpx.AsyncClient, payments_api: PaymentsApi, amount: object, code: str, detail: str
) -> None:
    player = await _funded(http, payments_api, 50_000_000)
    response = await _withdraw(http, player, amount)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code
    assert detail in response.json()["detail"]
    if code == "WithdrawalOutOfRange":
        assert (response.json()["minimum"], response.json()["maximum"]) == (10.0, 150_000.0)


async def test_the_daily_limit_says_what_is_left_today(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    # The server's daily limit is 1,000,000.00 and one withdrawal at most 150,000.00.
    player = await _funded(http, payments_api, 105_000_000)
    for _ in range(6):
        assert (await _withdraw(http, player, 150_000)).status_code == 202
    refused = await _withdraw(http, player, 150_000)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "DailyWithdrawalLimitReached"
    assert (refused.json()["limit"], refused.json()["remaining"]) == (1_000_000.0, 100_000.0)
    assert await balance(http, player) == 150_000


async def test_a_duplicate_result_pays_out_once(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    player = await _funded(http, payments_api, 100_000)
    started = (await _withdraw(http, player, 192)).json()
    path = f"/withdrawals/{started['withdrawal_id']}"
    done = await wait_for_status(http, path, player, {"completed"})
    await simulator.flush(http)  # returns once the API has answered the second one too
    ours = [
        c
        for c in await simulator.callbacks(http)
        if c["kind"] == "b2c-result"
        and c["payload"]["Result"].get("TransactionID") == done["mpesa_receipt"]
    ]
    assert [(c["state"], c["status_code"]) for c in ours] == [("delivered", 200)] * 2
    assert await balance(http, player) == 808
    await assert_ledger_ok(payments_api.database_url)


@pytest.mark.parametrize(("amount", "final", "money_left"), [(194, "completed", 806),
                                                            (195, "failed", 1000)])  # fmt: skip
async def test_a_queue_timeout_is_unknown_until_transaction_status_says(
    http: httpx.AsyncClient,
    payments_api: PaymentsApi,
    amount: int,
    final: str,
    money_left: int,
) -> None:
    player = await _funded(http, payments_api, 100_000)
    started = (await _withdraw(http, player, amount)).json()
    path = f"/withdrawals/{started['withdrawal_id']}"
    await wait_for_status(http, path, player, {"unknown"})
    assert (await http.get("/wallet", headers=player.headers)).json()["held"] == amount
    result = run_cli(payments_api.env, "payments", "reconcile")
    assert result.returncode == 0, result.stderr
    done = await wait_for_status(http, path, player, {final})
    assert done["status"] == final
    assert await balance(http, player) == money_left
    await assert_ledger_ok(payments_api.database_url)


async def test_a_missing_result_is_found_by_transaction_status(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    player = await _funded(http, payments_api, 100_000)
    started = (await _withdraw(http, player, 191)).json()
    path = f"/withdrawals/{started['withdrawal_id']}"
    await simulator.flush(http)
    assert (await http.get(path, headers=player.headers)).json()["status"] == "submitted"
    run_cli(payments_api.env, "payments", "reconcile")
    await wait_for_status(http, path, player, {"completed"})
    # Nothing is sent twice: M-Pesa accepted one B2C request for this payment, however
    # often it was asked about afterwards.
    async with database(payments_api.database_url) as db, db.unit_of_work() as session:
        withdrawal = await session.get(Withdrawal, started["withdrawal_id"])
        assert withdrawal is not None
        originator_id = withdrawal.originator_conversation_id
    accepted = [
        r
        for r in await simulator.requests(http)
        if r["path"] == "/mpesa/b2c/v3/paymentrequest"
        and r["status"] == 200
        and r["body"]["OriginatorConversationID"] == originator_id
    ]
    assert len(accepted) == 1
    assert await balance(http, player) == 809


async def test_someone_elses_withdrawal_is_404(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    owner = await _funded(http, payments_api, 10_000)
    started = (await _withdraw(http, owner, 20)).json()
    intruder = await new_player(http)
    response = await http.get(f"/withdrawals/{started['withdrawal_id']}", headers=intruder.headers)
    assert response.status_code == 404


async def test_one_hundred_simultaneous_withdrawals_and_debits_never_overdraw(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    from gamehub.wallet.errors import InsufficientFunds
    from tests.payments.support import fund as adjust

    player = await _funded(http, payments_api, 100_000)  # KES 1,000
    codes: list[int] = []
    debits: list[str] = []

    async def withdraw() -> None:
        codes.append((await _withdraw(http, player, 20)).status_code)

    async def debit() -> None:
        try:
            await adjust(payments_api.database_url, player.username, -2_000)
            debits.append("ok")
        except InsufficientFunds:
            debits.append("refused")

    async with anyio.create_task_group() as group:
        for index in range(100):
            group.start_soon(withdraw if index % 4 else debit)
    assert set(codes) <= {202, 409}
    accepted = codes.count(202) + debits.count("ok")
    assert accepted == 50  # KES 1,000 / KES 20
    assert await balance(http, player) >= 0
    for _ in range(100):
        wallet = (await http.get("/wallet", headers=player.headers)).json()
        if wallet["held"] == 0:
            break
        await anyio.sleep(0.1)
    await assert_ledger_ok(payments_api.database_url)
    result = run_cli(payments_api.env, "ledger", "verify")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_payout_handed_to_an_operator_stays_held_and_is_logged_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    withdrawal = Withdrawal(id=7, originator_conversation_id="GHW-review", status="unknown")
    with caplog.at_level(logging.WARNING, logger="gamehub.payments"):
        outcome = to_review(withdrawal, "M-Pesa found no such payment 3 times")
    assert withdrawal.status == "needs_review"
    assert withdrawal.settle_transaction_id is None
    assert outcome.startswith("needs review")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "withdrawal 7 (GHW-review) needs review" in record.getMessage()
