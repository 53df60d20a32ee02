"""Spoofed callbacks move no money: wrong secret, wrong token, forged outcomes (even with
the real secret and token), unknown ids, wrong amounts, garbage. Callbacks are evidence:
only M-Pesa's own answer (STK query, Transaction Status) settles a payment."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from gamehub.models import Deposit, MpesaCallback, Withdrawal
from gamehub.settings import Settings
from tests.payments.conftest import (
    CALLBACK_DELAY,
    CALLBACK_SECRET,
    PaymentsApi,
    RunningSimulator,
)
from tests.payments.support import (
    PHONE,
    Player,
    assert_ledger_ok,
    balance,
    database,
    fund,
    new_player,
    row,
    run_cli,
    wait_for_status,
)


@pytest.fixture
async def http(payments_api: PaymentsApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=payments_api.base_url, timeout=30) as client:
        yield client


def stk_success(checkout_request_id: str, amount: float) -> dict[str, object]:
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "29115-34620561-1",
                "CheckoutRequestID": checkout_request_id,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": amount},
                        {"Name": "MpesaReceiptNumber", "Value": "SPOOF12345"},
                        {"Name": "TransactionDate", "Value": 20261122101010},
                        {"Name": "PhoneNumber", "Value": 254708374149},
                    ]
                },
            }
        }
    }


async def _stored(url: str, external_id: str) -> list[MpesaCallback]:
    async with database(url) as db, db.unit_of_work() as session:
        result = await session.execute(
            select(MpesaCallback)
            .where(MpesaCallback.external_id == external_id)
            .order_by(MpesaCallback.id)
        )
        return list(result.scalars())


async def _deposit(http: httpx.AsyncClient, player: Player, amount: int) -> dict[str, Any]:
    response = await http.post(
        "/deposit", headers=player.headers, json={"amount": amount, "phone": PHONE}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def _stk_path(api: PaymentsApi, deposit_id: int) -> str:
    """The real CallBackURL of a deposit: secret and token, all an insider could know."""
    token = (await row(api.database_url, Deposit, deposit_id)).callback_token
    return api.callback(f"stk/{{secret}}/{token}")


async def test_a_wrong_secret_is_a_plain_404(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    body = stk_success("ws_CO_unknown", 100)
    paths = ("stk/{secret}/t", "b2c/{secret}/result/t", "b2c/{secret}/timeout/t",
             "status/{secret}/result/1/t", "stk/{secret}")  # fmt: skip
    for path in paths:
        response = await http.post(payments_api.callback(path, secret="guessed-secret"), json=body)
        assert response.status_code == 404
        assert response.json() == (await http.post(payments_api.callback("no/such/route"))).json()
        assert response.json()["error"] == "RouteNotFound"


async def test_an_unknown_token_credits_nothing_and_is_flagged(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    response = await http.post(
        payments_api.callback("stk/{secret}/not-a-token"), json=stk_success("ws_CO_made_up_1", 100)
    )
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    (stored,) = await _stored(payments_api.database_url, "ws_CO_made_up_1")
    assert stored.flagged
    assert (stored.outcome or "").startswith("unmatched")
    await assert_ledger_ok(payments_api.database_url)


async def test_a_forged_success_with_the_real_secret_but_no_token_credits_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await new_player(http)
    started = await _deposit(http, player, 132)  # the customer cancels (1032)
    forged = await http.post(
        payments_api.callback("stk/{secret}/guessed-token"),
        json=stk_success(started["checkout_request_id"], 132),
    )
    assert forged.status_code == 200
    await wait_for_status(http, f"/deposits/{started['deposit_id']}", player, {"failed"})
    assert await balance(http, player) == 0
    await assert_ledger_ok(payments_api.database_url)


async def test_a_forged_success_sent_before_the_real_failure_credits_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    """The incident: a forged success ahead of M-Pesa's 1032 (cancelled by the customer),
    sent by someone who knows the secret and even the push's token. M-Pesa's callback is
    late (33), so the forgery is certainly first however slow the machine is."""
    player = await new_player(http)
    started = await _deposit(http, player, 133)
    path = f"/deposits/{started['deposit_id']}"
    forged = await http.post(
        await _stk_path(payments_api, started["deposit_id"]),
        json=stk_success(started["checkout_request_id"], 133),
    )
    assert forged.status_code == 200
    # The forged success is evidence, confirmed with M-Pesa: not decided yet (or 1032).
    assert (await http.get(path, headers=player.headers)).json()["status"] in ("pending", "failed")
    assert await balance(http, player) == 0

    # The customer has cancelled; the reconciler's query hears it before the callback does.
    await simulator.advance(http, CALLBACK_DELAY)
    run_cli(payments_api.env, "payments", "reconcile")
    done = await wait_for_status(http, path, player, {"completed", "failed"})
    assert done["status"] == "failed"
    assert done["result_code"] == "1032"
    await simulator.flush(http)  # M-Pesa's own, late, callback is delivered now
    assert await balance(http, player) == 0
    # Both bodies are kept: the genuine failure was not dropped as a "duplicate", and the
    # forgery is flagged for an operator.
    stored = await _stored(payments_api.database_url, started["checkout_request_id"])
    assert len(stored) == 2
    assert [c.flagged for c in stored] == [True, False]
    assert "conflict" in (stored[0].outcome or "")
    listed = run_cli(payments_api.env, "payments", "review")
    assert f"callback {stored[0].id}: stk" in listed.stdout
    await assert_ledger_ok(payments_api.database_url)


async def test_a_wrong_amount_credits_nothing_more_than_the_push_asked(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    player = await new_player(http)
    started = await _deposit(http, player, 191)  # 91: M-Pesa never sends its own callback
    forged = await http.post(
        await _stk_path(payments_api, started["deposit_id"]),
        json=stk_success(started["checkout_request_id"], 100_000),
    )
    assert forged.status_code == 200
    path = f"/deposits/{started['deposit_id']}"
    assert (await http.get(path, headers=player.headers)).json()["status"] == "pending"
    assert await balance(http, player) == 0
    # The STK query (which M-Pesa answers itself) settles it, for the amount requested.
    await simulator.flush(http)
    run_cli(payments_api.env, "payments", "reconcile")
    done = await wait_for_status(http, path, player, {"completed"})
    assert done["mpesa_receipt"] is None
    assert await balance(http, player) == 191
    (stored,) = await _stored(payments_api.database_url, started["checkout_request_id"])
    assert stored.flagged
    await assert_ledger_ok(payments_api.database_url)


async def test_a_forged_success_for_a_failed_deposit_changes_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    player = await new_player(http)
    started = await _deposit(http, player, 132)
    await wait_for_status(http, f"/deposits/{started['deposit_id']}", player, {"failed"})
    await simulator.flush(http)  # the query may have failed it first: M-Pesa's callback too
    replay = await http.post(
        await _stk_path(payments_api, started["deposit_id"]),
        json=stk_success(started["checkout_request_id"], 132),
    )
    assert replay.status_code == 200
    assert await balance(http, player) == 0
    stored = await _stored(payments_api.database_url, started["checkout_request_id"])
    assert [c.flagged for c in stored] == [False, True]
    await assert_ledger_ok(payments_api.database_url)


def b2c_result(originator_id: str, code: int, receipt: str = "SPOOFB2C00") -> dict[str, object]:
    return {
        "Result": {
            "ResultType": 0,
            "ResultCode": code,
            "ResultDesc": "forged",
            "OriginatorConversationID": originator_id,
            "ConversationID": "AG_20261201_forged",
            "TransactionID": receipt,
        }
    }


async def _withdraw(http: httpx.AsyncClient, api: PaymentsApi, amount: int) -> tuple[Player, int]:
    player = await new_player(http)
    await fund(api.database_url, player.username, 100_000)
    response = await http.post(
        "/withdraw", headers=player.headers, json={"amount": amount, "phone": PHONE}
    )
    assert response.status_code == 202, response.text
    withdrawal_id: int = response.json()["withdrawal_id"]
    return player, withdrawal_id


async def test_a_forged_failure_of_a_paid_withdrawal_refunds_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    # 91: M-Pesa pays but never sends the Result; the forger sends a failure instead,
    # to the real ResultURL (secret and token).
    player, withdrawal_id = await _withdraw(http, payments_api, 191)
    withdrawal = await row(payments_api.database_url, Withdrawal, withdrawal_id)
    forged = await http.post(
        payments_api.callback(f"b2c/{{secret}}/result/{withdrawal.callback_token}"),
        json=b2c_result(withdrawal.originator_conversation_id, 2001),
    )
    assert forged.status_code == 200
    # The forgery only made us ask Transaction Status, whose answer is the truth.
    done = await wait_for_status(
        http, f"/withdrawals/{withdrawal_id}", player, {"completed", "failed"}
    )
    assert done["status"] == "completed"
    assert await balance(http, player) == 809
    stored = await _stored(payments_api.database_url, withdrawal.originator_conversation_id)
    forgery = [c for c in stored if c.kind == "b2c_result"]
    assert len(forgery) == 1
    assert forgery[0].flagged
    await assert_ledger_ok(payments_api.database_url)


async def test_a_forged_failure_without_the_token_is_not_even_asked_about(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player, withdrawal_id = await _withdraw(http, payments_api, 191)
    withdrawal = await row(payments_api.database_url, Withdrawal, withdrawal_id)
    forged = await http.post(
        payments_api.callback("b2c/{secret}/result/guessed"),
        json=b2c_result(withdrawal.originator_conversation_id, 2001),
    )
    assert forged.status_code == 200
    assert (await row(payments_api.database_url, Withdrawal, withdrawal_id)).status_token is None
    body = (await http.get(f"/withdrawals/{withdrawal_id}", headers=player.headers)).json()
    assert body["status"] == "submitted"
    assert await balance(http, player) == 809
    await assert_ledger_ok(payments_api.database_url)


def status_result(originator_id: str, transaction_status: str, desc: str) -> dict[str, object]:
    return {
        "Result": {
            "ResultType": 0,
            "ResultCode": 0,
            "ResultDesc": desc,
            "OriginatorConversationID": "AG_forged_question",
            "ConversationID": "AG_forged_question",
            "TransactionID": "MAS0000000",
            "ResultParameters": {
                "ResultParameter": [
                    {"Key": "TransactionStatus", "Value": transaction_status},
                    {"Key": "OriginatorConversationID", "Value": originator_id},
                    {"Key": "ReceiptNo", "Value": "SPOOFTS000"},
                    {"Key": "Amount", "Value": 191},
                ]
            },
        }
    }


async def test_a_transaction_status_result_needs_its_questions_token_once(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    player, withdrawal_id = await _withdraw(http, payments_api, 191)
    withdrawal = await row(payments_api.database_url, Withdrawal, withdrawal_id)
    originator_id = withdrawal.originator_conversation_id
    # No question is open: a "Failed" answer with the real secret refunds nothing.
    for token in ("guessed", "0" * 32):
        forged = await http.post(
            payments_api.callback(f"status/{{secret}}/result/{withdrawal_id}/{token}"),
            json=status_result(originator_id, "Failed", f"forged for {token}"),
        )
        assert forged.status_code == 200
    assert await balance(http, player) == 809
    # The reconciler's own question is answered (Completed), and its token is spent.
    run_cli(payments_api.env, "payments", "reconcile")
    await wait_for_status(http, f"/withdrawals/{withdrawal_id}", player, {"completed"})
    (answer,) = [
        c for c in await simulator.callbacks(http)
        if c["kind"] == "status-result" and f"/result/{withdrawal_id}/" in c["url"]
        and c["url"].startswith(payments_api.base_url)
    ]  # fmt: skip
    replayed = await http.post(
        answer["url"], json=status_result(originator_id, "Failed", "replayed on a spent token")
    )
    assert replayed.status_code == 200
    assert await balance(http, player) == 809
    stored = [
        c for c in await _stored(payments_api.database_url, originator_id)
        if c.kind == "status_result"
    ]  # fmt: skip
    assert [c.flagged for c in stored] == [True, True, False, True]
    await assert_ledger_ok(payments_api.database_url)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"Body": {}}', b'{"Body": {"stkCallback": {"ResultCode": 0}}}'],
)
async def test_malformed_callbacks_are_400(
    http: httpx.AsyncClient, payments_api: PaymentsApi, body: bytes
) -> None:
    for path in ("stk/{secret}/t", "b2c/{secret}/result/t"):
        response = await http.post(
            payments_api.callback(path), content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (path, body)


async def test_an_unknown_b2c_result_moves_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    result = {
        "Result": {
            "ResultType": 0,
            "ResultCode": 0,
            "ResultDesc": "ok",
            "OriginatorConversationID": "GHW-not-ours",
            "ConversationID": "AG_1",
            "TransactionID": "SG632NMUAB",
        }
    }
    response = await http.post(
        payments_api.callback("b2c/{secret}/result/t"), content=json.dumps(result)
    )
    assert response.status_code == 200
    (stored,) = await _stored(payments_api.database_url, "GHW-not-ours")
    assert stored.flagged
    await assert_ledger_ok(payments_api.database_url)


def _mpesa_settings(simulator: RunningSimulator, **overrides: object) -> dict[str, object]:
    return {
        "mpesa_base_url": simulator.base_url,
        "mpesa_certificate_path": str(simulator.certificate_path),
        "mpesa_callback_secret": CALLBACK_SECRET,
        "mpesa_reconcile_interval_seconds": 0,
        **overrides,
    }


async def test_the_address_allow_list_refuses_other_senders(
    app_factory: Any, simulator: RunningSimulator
) -> None:
    settings = _mpesa_settings(simulator, mpesa_callback_allowed_ips=["196.201.214.200"])
    async with app_factory(**settings) as client:
        body = stk_success("ws_CO_from_elsewhere", 100)
        refused = await client.post(f"/payments/mpesa/stk/{CALLBACK_SECRET}/t", json=body)
        assert refused.status_code == 403
        # A forwarded address counts only behind a proxy we trust.
        forged = await client.post(
            f"/payments/mpesa/stk/{CALLBACK_SECRET}/t",
            json=body,
            headers={"X-Forwarded-For": "196.201.214.200"},
        )
        assert forged.status_code == 403


async def test_behind_a_trusted_proxy_the_forwarded_address_counts(
    app_factory: Any, simulator: RunningSimulator
) -> None:
    settings = _mpesa_settings(
        simulator,
        mpesa_callback_allowed_ips=["196.201.214.200"],
        trusted_proxies=["127.0.0.1"],
    )
    async with app_factory(**settings) as client:
        accepted = await client.post(
            f"/payments/mpesa/stk/{CALLBACK_SECRET}/t",
            json=stk_success("ws_CO_via_proxy", 100),
            headers={"X-Forwarded-For": "196.201.214.200"},
        )
        assert accepted.status_code == 200


async def test_without_mpesa_payments_answer_503(client: httpx.AsyncClient) -> None:
    from tests.support.api import bearer, register

    account = await register(client)
    response = await client.post(
        "/deposit", headers=bearer(account["access_token"]), json={"amount": 100, "phone": PHONE}
    )
    assert response.status_code == 503
    assert response.json()["error"] == "PaymentsNotConfigured"
    hidden = await client.post(f"/payments/mpesa/stk/{CALLBACK_SECRET}/t", json={})
    assert hidden.status_code == 404


def test_trusting_the_allow_list_needs_one() -> None:
    with pytest.raises(ValidationError, match="GAMEHUB_MPESA_CALLBACK_ALLOWED_IPS"):
        Settings(_env_file=None, mpesa_trust_callback_allowlist=True)  # type: ignore[call-arg]
    trusting = Settings(  # type: ignore[call-arg]
        _env_file=None,
        mpesa_trust_callback_allowlist=True,
        mpesa_callback_allowed_ips="196.201.214.200",
    )
    assert trusting.mpesa_trust_callback_allowlist
    assert not Settings(_env_file=None).mpesa_trust_callback_allowlist  # type: ignore[call-arg]


async def test_a_deployment_that_trusts_its_allow_list_settles_on_the_callback_alone(
    app_factory: Any, simulator: RunningSimulator, database_url: str
) -> None:
    from tests.payments.conftest import SIM_ENV
    from tests.support.api import bearer, register

    credentials = {
        f"mpesa_{name.removeprefix('GAMEHUB_MPESA_SIM_').lower()}": value
        for name, value in SIM_ENV.items()
    }
    settings = _mpesa_settings(
        simulator,
        **credentials,
        mpesa_callback_allowed_ips=["196.201.214.200"],
        mpesa_trust_callback_allowlist=True,
        trusted_proxies=["127.0.0.1"],
    )
    async with app_factory(**settings) as client, httpx.AsyncClient() as http:
        account = await register(client)
        headers = bearer(account["access_token"])
        started = await client.post(
            "/deposit", headers=headers, json={"amount": 191, "phone": PHONE}
        )
        assert started.status_code == 202, started.text
        deposit_id = started.json()["deposit_id"]
        checkout_request_id = started.json()["checkout_request_id"]
        token = (await row(database_url, Deposit, deposit_id)).callback_token
        from_mpesa = {"X-Forwarded-For": "196.201.214.200"}
        believed = await client.post(
            f"/payments/mpesa/stk/{CALLBACK_SECRET}/{token}",
            json=stk_success(checkout_request_id, 191),
            headers=from_mpesa,
        )
        assert believed.status_code == 200
        done = (await client.get(f"/deposits/{deposit_id}", headers=headers)).json()
        assert done["status"] == "completed"
        assert done["mpesa_receipt"] == "SPOOF12345"
        # Believed as it came: M-Pesa was never asked about this push.
        asked = [
            r
            for r in await simulator.requests(http)
            if r["path"] == "/mpesa/stkpushquery/v1/query"
            and r["body"].get("CheckoutRequestID") == checkout_request_id
        ]
        assert asked == []
        # The token still has to match, even from an allowed address.
        elsewhere = await client.post(
            f"/payments/mpesa/stk/{CALLBACK_SECRET}/wrong",
            json=stk_success(checkout_request_id, 191),
            headers=from_mpesa,
        )
        assert elsewhere.status_code == 200
        wallet = (await client.get("/wallet", headers=headers)).json()
        assert wallet["balance"] == 191
