"""Spoofed callbacks move no money: wrong secret, unknown ids, wrong amounts, garbage."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.payments.conftest import PaymentsApi
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
