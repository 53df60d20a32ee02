"""A worker that dies mid-payment leaves nothing that can pay twice, and nothing stuck.

Each test kills a worker at a chosen point of a real request (see ``dying_worker``), then
lets the surviving server, its reconciler and a retry of the same Idempotency-Key finish
the job: one payout or one credit, and never a second request to M-Pesa.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from gamehub.models import Deposit, IdempotencyKey, Withdrawal
from gamehub.payments.service.deposits import reconcile_deposits
from gamehub.payments.service.withdrawals import reconcile_withdrawals
from tests.payments.conftest import (
    CALLBACK_SECRET,
    LoopbackServer,
    PaymentsApi,
    RunningSimulator,
)
from tests.payments.support import (
    PHONE,
    Player,
    assert_ledger_ok,
    balance,
    database,
    dying_worker,
    fund,
    new_player,
    provider_runtime,
    row,
    run_cli,
    settings_of,
    sim_requests,
    wait_for_status,
)

B2C = "/mpesa/b2c/v3/paymentrequest"
STK_PUSH = "/mpesa/stkpush/v1/processrequest"


@pytest.fixture
async def http(payments_api: PaymentsApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=payments_api.base_url, timeout=60) as client:
        yield client


async def _age_claims(url: str, user_id: int, minutes: int) -> None:
    """Make the key look abandoned by the old rule (no response for two minutes)."""
    async with database(url) as db, db.unit_of_work() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.user_id == user_id)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=minutes))
        )


async def _retry(
    http: httpx.AsyncClient, path: str, player: Player, key: str, amount: int
) -> dict[str, Any]:
    response = await http.post(
        path,
        headers={**player.headers, "Idempotency-Key": key},
        json={"amount": amount, "phone": PHONE},
    )
    assert response.status_code == 202, response.text
    assert response.headers["Idempotent-Replayed"] == "true"
    body: dict[str, Any] = response.json()
    return body


async def _only_deposit(url: str, user_id: int) -> Deposit:
    async with database(url) as db, db.unit_of_work() as session:
        found = (await session.execute(select(Deposit).where(Deposit.user_id == user_id))).all()
    assert len(found) == 1
    deposit: Deposit = found[0][0]
    return deposit


@pytest.mark.parametrize(
    "amount",
    [
        100,  # M-Pesa's Result reaches the server, which confirms it
        191,  # no Result is ever sent: only the reconciler can find the payout
    ],
)
async def test_a_worker_killed_after_mpesa_accepted_a_payout_pays_once(
    http: httpx.AsyncClient,
    payments_api: PaymentsApi,
    simulator: RunningSimulator,
    amount: int,
) -> None:
    player = await new_player(http)
    await fund(payments_api.database_url, player.username, 100_000)
    key = f"withdraw-{amount}"
    async with dying_worker(payments_api, simulator, dies_after=B2C) as worker:
        died = await worker.client.post(
            "/withdraw",
            headers={**player.headers, "Idempotency-Key": key},
            json={"amount": amount, "phone": PHONE},
        )
    assert died.status_code == 500

    # The retry, even after the old two-minute "abandoned" mark, finds the same payout.
    await _age_claims(payments_api.database_url, player.user_id, minutes=3)
    again = await _retry(http, "/withdraw", player, key, amount)
    withdrawal_id = again["withdrawal_id"]
    assert again["status"] in ("pending", "completed")
    assert await balance(http, player) == 1000 - amount

    result = run_cli(payments_api.env, "payments", "reconcile")
    assert result.returncode == 0, result.stderr
    await wait_for_status(http, f"/withdrawals/{withdrawal_id}", player, {"completed"})
    assert (await _retry(http, "/withdraw", player, key, amount))["status"] == "completed"

    withdrawal = await row(payments_api.database_url, Withdrawal, withdrawal_id)
    sent = await sim_requests(
        http, simulator, B2C, OriginatorConversationID=withdrawal.originator_conversation_id
    )
    assert len(sent) == 1
    wallet = (await http.get("/wallet", headers=player.headers)).json()
    assert wallet == {"balance": 1000 - amount, "currency": "KES", "held": 0}
    await assert_ledger_ok(payments_api.database_url)


async def test_a_worker_killed_after_mpesa_accepted_a_push_credits_once(
    http: httpx.AsyncClient,
    payments_api: PaymentsApi,
    simulator: RunningSimulator,
) -> None:
    player = await new_player(http)
    async with dying_worker(payments_api, simulator, dies_after=STK_PUSH) as worker:
        died = await worker.client.post(
            "/deposit",
            headers={**player.headers, "Idempotency-Key": "deposit-crash"},
            json={"amount": 150, "phone": PHONE},
        )
    assert died.status_code == 500

    again = await _retry(http, "/deposit", player, "deposit-crash", 150)
    deposit_id = again["deposit_id"]
    # The CheckoutRequestID never reached the database...
    assert again["checkout_request_id"] is None or again["status"] == "completed"
    # ...but M-Pesa's callback carries the deposit's own token, and the STK query confirms it.
    done = await wait_for_status(http, f"/deposits/{deposit_id}", player, {"completed"})
    assert done["checkout_request_id"].startswith("ws_CO_")
    assert done["mpesa_receipt"]
    assert await balance(http, player) == 150
    assert (await _retry(http, "/deposit", player, "deposit-crash", 150))["status"] == "completed"
    run_cli(payments_api.env, "payments", "reconcile")
    assert await balance(http, player) == 150
    token = (await row(payments_api.database_url, Deposit, deposit_id)).callback_token
    pushes = [
        r
        for r in await sim_requests(http, simulator, STK_PUSH)
        if r["body"]["CallBackURL"].endswith(f"/{token}")
    ]
    assert len(pushes) == 1
    await assert_ledger_ok(payments_api.database_url)


@pytest.mark.parametrize("operator_first", [False, True])
async def test_an_expired_deposit_is_credited_once_when_its_late_success_arrives(
    http: httpx.AsyncClient,
    payments_api: PaymentsApi,
    simulator: RunningSimulator,
    receiver: LoopbackServer,
    operator_first: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    player = await new_player(http)
    # The worker dies before storing the CheckoutRequestID, and M-Pesa's callback is held
    # back (at a loopback receiver) until the test delivers it.
    async with dying_worker(
        payments_api, simulator, dies_after=STK_PUSH, callback_base_url=receiver.url
    ) as worker:
        died = await worker.client.post(
            "/deposit", headers=player.headers, json={"amount": 160, "phone": PHONE}
        )
    assert died.status_code == 500
    deposit = await _only_deposit(payments_api.database_url, player.user_id)
    assert deposit.checkout_request_id is None
    expire_after = settings_of(payments_api).mpesa_deposit_expire_after_seconds
    later = datetime.now(UTC) + timedelta(seconds=expire_after + 1)
    # Litestar's logging set-up (the dying worker's app) replaced the root handlers.
    payments_log = logging.getLogger("gamehub.payments")
    payments_log.addHandler(caplog.handler)
    try:
        async with provider_runtime(payments_api) as runtime:
            assert await reconcile_deposits(runtime, now=later) >= 1
    finally:
        payments_log.removeHandler(caplog.handler)
    assert f"deposit {deposit.id} expired without an answer" in caplog.text
    path = f"/deposits/{deposit.id}"
    assert (await http.get(path, headers=player.headers)).json()["status"] == "expired"
    assert await balance(http, player) == 0

    if operator_first:
        # The customer's SMS shows the payment: an operator credits it before M-Pesa's
        # late callback comes.
        args = ("payments", "resolve", "deposit", str(deposit.id), "--paid")
        resolved = run_cli(payments_api.env, *args, "--reason", "SMS receipt seen")
        assert resolved.returncode == 0, resolved.stderr
        assert await balance(http, player) == 160
    callback_path = f"/payments/mpesa/stk/{CALLBACK_SECRET}/{deposit.callback_token}"
    (late,) = await receiver.wait_for(callback_path)
    for _ in range(2):  # M-Pesa's late success, and a repeat of it
        forwarded = await http.post(
            payments_api.base_url + late.path,
            content=late.body,
            headers={"Content-Type": "application/json"},
        )
        assert forwarded.status_code == 200
    done = (await http.get(path, headers=player.headers)).json()
    assert done["status"] == "completed"
    assert await balance(http, player) == 160
    await assert_ledger_ok(payments_api.database_url)


async def test_a_lost_push_is_matched_to_its_callback_by_amount_phone_and_time(
    http: httpx.AsyncClient,
    payments_api: PaymentsApi,
    simulator: RunningSimulator,
    receiver: LoopbackServer,
) -> None:
    """The CheckoutRequestID never reached the database, and M-Pesa's callback came to a URL
    without this deposit's token: the reconciler still finds it by its details, and the
    STK query confirms it before anything is credited."""
    player = await new_player(http)
    async with dying_worker(
        payments_api, simulator, dies_after=STK_PUSH, callback_base_url=receiver.url
    ) as worker:
        await worker.client.post(
            "/deposit", headers=player.headers, json={"amount": 170, "phone": PHONE}
        )
    deposit = await _only_deposit(payments_api.database_url, player.user_id)
    callback_path = f"/payments/mpesa/stk/{CALLBACK_SECRET}/{deposit.callback_token}"
    (genuine,) = await receiver.wait_for(callback_path)
    stray = await http.post(
        payments_api.callback("stk/{secret}/token-lost-on-the-way"),
        content=genuine.body,
        headers={"Content-Type": "application/json"},
    )
    assert stray.status_code == 200
    path = f"/deposits/{deposit.id}"
    assert (await http.get(path, headers=player.headers)).json()["status"] == "pending"

    async with provider_runtime(payments_api) as runtime:
        assert await reconcile_deposits(runtime) >= 1
    done = (await http.get(path, headers=player.headers)).json()
    assert done["status"] == "completed"
    assert done["checkout_request_id"] == genuine.json()["Body"]["stkCallback"]["CheckoutRequestID"]
    assert done["mpesa_receipt"]
    assert await balance(http, player) == 170
    async with provider_runtime(payments_api) as runtime:
        await reconcile_deposits(runtime)
    assert await balance(http, player) == 170
    await assert_ledger_ok(payments_api.database_url)


async def test_a_payout_that_never_reached_mpesa_goes_to_review_not_to_a_refund(
    http: httpx.AsyncClient,
    payments_api: PaymentsApi,
    simulator: RunningSimulator,
) -> None:
    player = await new_player(http)
    await fund(payments_api.database_url, player.username, 100_000)
    async with dying_worker(payments_api, simulator, dies_before=B2C) as worker:
        died = await worker.client.post(
            "/withdraw",
            headers={**player.headers, "Idempotency-Key": "never-sent"},
            json={"amount": 120, "phone": PHONE},
        )
    assert died.status_code == 500
    pending = await _retry(http, "/withdraw", player, "never-sent", 120)
    withdrawal_id = pending["withdrawal_id"]
    assert pending["status"] == "pending"

    # Each round asks Transaction Status once; M-Pesa has no such payment every time.
    now = datetime.now(UTC)
    attempts = settings_of(payments_api).mpesa_status_not_found_attempts
    async with provider_runtime(payments_api) as runtime:
        for round_number in range(1, attempts + 1):
            now += timedelta(hours=1)
            assert await reconcile_withdrawals(runtime, now=now) >= 1
            await simulator.flush(http)
            status = (await row(payments_api.database_url, Withdrawal, withdrawal_id)).status
            assert status == ("needs_review" if round_number == attempts else "pending")
        # In review, nobody asks any more and nothing is refunded by itself.
        await reconcile_withdrawals(runtime, now=now + timedelta(days=1))
    wallet = (await http.get("/wallet", headers=player.headers)).json()
    assert wallet == {"balance": 880, "currency": "KES", "held": 120}
    withdrawal = await row(payments_api.database_url, Withdrawal, withdrawal_id)
    originator_id = withdrawal.originator_conversation_id
    assert not await sim_requests(http, simulator, B2C, OriginatorConversationID=originator_id)

    listed = run_cli(payments_api.env, "payments", "review")
    assert listed.returncode == 0, listed.stderr
    assert f"withdrawal {withdrawal_id}: needs_review" in listed.stdout

    args = ("payments", "resolve", "withdrawal", str(withdrawal_id))
    resolved = run_cli(payments_api.env, *args, "--refund", "--reason", "not on the statement")
    assert resolved.returncode == 0, resolved.stderr
    assert "is now failed" in resolved.stdout
    twice = run_cli(payments_api.env, *args, "--paid", "--reason", "changed my mind")
    assert twice.returncode != 0
    assert "not in review" in twice.stderr
    done = (await http.get(f"/withdrawals/{withdrawal_id}", headers=player.headers)).json()
    assert done["status"] == "failed"
    assert "not on the statement" in done["result_desc"]
    wallet = (await http.get("/wallet", headers=player.headers)).json()
    assert wallet == {"balance": 1000, "currency": "KES", "held": 0}
    await assert_ledger_ok(payments_api.database_url)
