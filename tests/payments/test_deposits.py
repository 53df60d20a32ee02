"""Deposits by STK push, driven over real HTTP through every simulator scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from tests.payments.conftest import (
    CALLBACK_DELAY,
    LATE_CALLBACK_DELAY,
    LoopbackServer,
    PaymentsApi,
    Received,
    RunningSimulator,
)
from tests.payments.support import (
    PHONE,
    assert_ledger_ok,
    balance,
    new_player,
    run_cli,
    wait_for_status,
)


@pytest.fixture
async def http(payments_api: PaymentsApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=payments_api.base_url, timeout=30) as client:
        yield client


async def _deposit(
    http: httpx.AsyncClient, headers: dict[str, str], amount: object
) -> httpx.Response:
    return await http.post("/deposit", headers=headers, json={"amount": amount, "phone": PHONE})


async def test_a_successful_push_credits_once_when_its_callback_arrives(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await new_player(http)
    response = await _deposit(http, player.headers, 250)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "pending"
    assert started["checkout_request_id"].startswith("ws_CO_")
    done = await wait_for_status(
        http, f"/deposits/{started['deposit_id']}", player, {"completed", "failed"}
    )
    assert done["status"] == "completed"
    assert len(done["mpesa_receipt"]) == 10
    assert await balance(http, player) == 250
    await assert_ledger_ok(payments_api.database_url)


@pytest.mark.parametrize(
    ("amount", "code"),
    [(111, "1"), (121, "2001"), (132, "1032"), (137, "1037")],
)
async def test_failed_pushes_credit_nothing_and_say_why(
    http: httpx.AsyncClient, payments_api: PaymentsApi, amount: int, code: str
) -> None:
    player = await new_player(http)
    started = (await _deposit(http, player.headers, amount)).json()
    done = await wait_for_status(
        http, f"/deposits/{started['deposit_id']}", player, {"completed", "failed"}
    )
    assert done["status"] == "failed"
    assert done["result_code"] == code
    assert done["result_desc"]
    assert await balance(http, player) == 0


async def test_a_duplicate_callback_credits_once(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    player = await new_player(http)
    started = (await _deposit(http, player.headers, 192)).json()
    await wait_for_status(http, f"/deposits/{started['deposit_id']}", player, {"completed"})
    await simulator.flush(http)  # returns once the API has answered the second one too
    ours = [
        c
        for c in await simulator.callbacks(http)
        if c["payload"]["Body"]["stkCallback"]["CheckoutRequestID"]
        == started["checkout_request_id"]
    ]
    assert [(c["state"], c["status_code"]) for c in ours] == [("delivered", 200)] * 2
    assert await balance(http, player) == 192
    await assert_ledger_ok(payments_api.database_url)


async def test_a_missing_callback_is_settled_by_the_reconciler(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    player = await new_player(http)
    started = (await _deposit(http, player.headers, 191)).json()
    await simulator.flush(http)  # decides the push; this scenario sends no callback
    path = f"/deposits/{started['deposit_id']}"
    assert (await http.get(path, headers=player.headers)).json()["status"] == "pending"
    result = run_cli(payments_api.env, "payments", "reconcile")
    assert result.returncode == 0, result.stderr
    assert (await http.get(path, headers=player.headers)).json()["status"] == "completed"
    assert await balance(http, player) == 191
    # Asking again changes nothing.
    run_cli(payments_api.env, "payments", "reconcile")
    assert await balance(http, player) == 191
    await assert_ledger_ok(payments_api.database_url)


async def test_a_late_callback_after_reconciliation_credits_nothing_more(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    player = await new_player(http)
    started = (await _deposit(http, player.headers, 193)).json()
    path = f"/deposits/{started['deposit_id']}"
    # The query learns the outcome before the late callback is sent.
    await simulator.advance(http, CALLBACK_DELAY)
    result = run_cli(payments_api.env, "payments", "reconcile")
    assert result.returncode == 0, result.stderr
    assert (await http.get(path, headers=player.headers)).json()["status"] == "completed"
    # The late callback arrives, and the API has answered it when advance returns.
    assert await simulator.advance(http, LATE_CALLBACK_DELAY - CALLBACK_DELAY) >= 1
    assert await balance(http, player) == 193
    await assert_ledger_ok(payments_api.database_url)


async def test_pending_queries_keep_a_deposit_pending(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await new_player(http)
    started = (await _deposit(http, player.headers, 194)).json()
    # Straight away the simulator says "being processed".
    result = run_cli(payments_api.env, "payments", "reconcile")
    assert result.returncode == 0, result.stderr
    path = f"/deposits/{started['deposit_id']}"
    assert (await http.get(path, headers=player.headers)).json()["status"] in (
        "pending",
        "completed",
    )
    await wait_for_status(http, path, player, {"completed"})


@pytest.mark.parametrize(
    ("amount", "detail"),
    [
        (0, "greater than zero"),
        (-5, "greater than zero"),
        ("12.345", "2 decimal places"),
        (10.5, "whole shillings"),
        ("ten", "must be a number"),
        ("NaN", "finite"),
        (None, "must be a number"),
        (True, "must be a number"),
        (10**12, "at most"),
    ],
)
async def test_bad_amounts_are_422_and_create_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi, amount: object, detail: str
) -> None:
    player = await new_player(http)
    response = await _deposit(http, player.headers, amount)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]


@pytest.mark.parametrize("phone", ["12345", "+1 555 0100", "07123456789", ""])
async def test_bad_phone_numbers_are_422(http: httpx.AsyncClient, phone: str) -> None:
    player = await new_player(http)
    response = await http.post(
        "/deposit", headers=player.headers, json={"amount": 100, "phone": phone}
    )
    assert response.status_code == 422, response.text


async def test_amounts_may_be_numeric_strings(http: httpx.AsyncClient) -> None:
    player = await new_player(http)
    response = await _deposit(http, player.headers, "120.00")
    assert response.status_code == 202, response.text
    assert response.json()["amount"] == 120


async def test_idempotency_key_replays_the_first_response(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await new_player(http)
    headers = {**player.headers, "Idempotency-Key": "deposit-once"}
    first = await _deposit(http, headers, 300)
    second = await _deposit(http, headers, 300)
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    other_body = await _deposit(http, headers, 301)
    assert other_body.status_code == 422
    await wait_for_status(http, f"/deposits/{first.json()['deposit_id']}", player, {"completed"})
    assert await balance(http, player) == 300
    # Keys are the user's own: another player may use the same one.
    stranger = await new_player(http)
    theirs = await _deposit(http, {**stranger.headers, "Idempotency-Key": "deposit-once"}, 300)
    assert theirs.status_code == 202
    assert theirs.json()["deposit_id"] != first.json()["deposit_id"]


async def test_simultaneous_repeats_of_one_key_move_money_once(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await new_player(http)
    headers = {**player.headers, "Idempotency-Key": "racing"}
    answers: list[httpx.Response] = []

    async def attempt() -> None:
        answers.append(await _deposit(http, headers, 310))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(attempt)
    codes = [answer.status_code for answer in answers]
    assert codes.count(202) >= 1
    assert set(codes) <= {202, 409}
    (deposit_id,) = {a.json()["deposit_id"] for a in answers if a.status_code == 202}
    await wait_for_status(http, f"/deposits/{deposit_id}", player, {"completed"})
    listed = (await http.get("/deposits", headers=player.headers)).json()
    assert [d["deposit_id"] for d in listed["items"]] == [deposit_id]
    assert await balance(http, player) == 310


async def test_someone_elses_deposit_is_404(http: httpx.AsyncClient) -> None:
    owner = await new_player(http)
    started = (await _deposit(http, owner.headers, 100)).json()
    intruder = await new_player(http)
    response = await http.get(f"/deposits/{started['deposit_id']}", headers=intruder.headers)
    assert response.status_code == 404
    assert (await http.get("/deposits/999999", headers=owner.headers)).status_code == 404
    assert (await http.get("/deposits/abc", headers=owner.headers)).status_code in (400, 404)


async def test_deposits_need_authentication(http: httpx.AsyncClient) -> None:
    response = await http.post("/deposit", json={"amount": 100, "phone": PHONE})
    assert response.status_code == 401


async def test_a_push_whose_answer_was_lost_stays_pending_and_is_never_sent_again(
    app_factory: Any, simulator: RunningSimulator, gateway: LoopbackServer
) -> None:
    """Daraja took the push but its reply was lost: the deposit stays on record, pending
    (its callback would still find it by its token), and a retry of the key sends nothing."""
    from tests.support.api import bearer, register

    def answer(request: Received) -> tuple[int, bytes]:
        if request.path.startswith("/oauth/"):
            return 200, b'{"access_token": "lost-reply-token", "expires_in": "3599"}'
        return 502, b"<html>Bad Gateway</html>"

    gateway.responder = answer
    settings = {
        "mpesa_base_url": gateway.url,
        "mpesa_certificate_path": str(simulator.certificate_path),
        "mpesa_reconcile_interval_seconds": 0,
    }
    async with app_factory(**settings) as client:
        account = await register(client)
        headers = {**bearer(account["access_token"]), "Idempotency-Key": "lost-reply"}
        body = {"amount": 100, "phone": PHONE}
        lost = await client.post("/deposit", headers=headers, json=body)
        assert lost.status_code == 503
        assert lost.json()["error"] == "MpesaUnreachable"
        again = await client.post("/deposit", headers=headers, json=body)
        assert again.status_code == 202, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["status"] == "pending"
        assert again.json()["checkout_request_id"] is None
    assert len(gateway.matching("/mpesa/stkpush/v1/processrequest")) == 1
