"""Spoofed callbacks move no money: wrong secret, unknown ids, wrong amounts, garbage."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.payments.conftest import CALLBACK_SECRET, PaymentsApi, RunningSimulator
from tests.payments.support import PHONE, assert_ledger_ok, balance, new_player, wait_for_status


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


async def test_a_wrong_secret_is_a_plain_404(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    body = stk_success("ws_CO_unknown", 100)
    for path in ("stk/{secret}", "b2c/{secret}/result", "b2c/{secret}/timeout"):
        response = await http.post(payments_api.callback(path, secret="guessed-secret"), json=body)
        assert response.status_code == 404
        assert response.json() == {"error": "NotFound", "detail": "Not Found"}


async def test_an_unknown_checkout_id_credits_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    response = await http.post(
        payments_api.callback("stk/{secret}"), json=stk_success("ws_CO_made_up_1", 100)
    )
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    await assert_ledger_ok(payments_api.database_url)


async def test_a_wrong_amount_credits_nothing_and_the_truth_still_arrives(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await new_player(http)
    started = (
        await http.post("/deposit", headers=player.headers, json={"amount": 191, "phone": PHONE})
    ).json()  # 91: the simulator never sends its own callback
    forged = await http.post(
        payments_api.callback("stk/{secret}"),
        json=stk_success(started["checkout_request_id"], 100_000),
    )
    assert forged.status_code == 200
    path = f"/deposits/{started['deposit_id']}"
    assert (await http.get(path, headers=player.headers)).json()["status"] == "pending"
    assert await balance(http, player) == 0


async def test_a_forged_success_for_a_failed_deposit_changes_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await new_player(http)
    started = (
        await http.post("/deposit", headers=player.headers, json={"amount": 132, "phone": PHONE})
    ).json()
    await wait_for_status(http, f"/deposits/{started['deposit_id']}", player, {"failed"})
    replay = await http.post(
        payments_api.callback("stk/{secret}"),
        json=stk_success(started["checkout_request_id"], 132),
    )
    assert replay.status_code == 200
    assert await balance(http, player) == 0


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"Body": {}}', b'{"Body": {"stkCallback": {"ResultCode": 0}}}'],
)
async def test_malformed_callbacks_are_400(
    http: httpx.AsyncClient, payments_api: PaymentsApi, body: bytes
) -> None:
    for path in ("stk/{secret}", "b2c/{secret}/result"):
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
        payments_api.callback("b2c/{secret}/result"), content=json.dumps(result)
    )
    assert response.status_code == 200
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
        refused = await client.post(f"/payments/mpesa/stk/{CALLBACK_SECRET}", json=body)
        assert refused.status_code == 403
        # A forwarded address counts only behind a proxy we trust.
        forged = await client.post(
            f"/payments/mpesa/stk/{CALLBACK_SECRET}",
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
            f"/payments/mpesa/stk/{CALLBACK_SECRET}",
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
    assert response.json()["error"] == "ServiceUnavailable"
    hidden = await client.post(f"/payments/mpesa/stk/{CALLBACK_SECRET}", json={})
    assert hidden.status_code == 404
