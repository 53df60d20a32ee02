"""The simulator over HTTP, spoken to in raw JSON so that the wire format itself is checked."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gamehub.core.mpesa.credentials import ensure_simulator_keypair, stk_credentials
from gamehub.payments.mpesa.callbacks import (
    parse_b2c_result,
    parse_stk_callback,
    parse_transaction_status_result,
)
from gamehub.payments.mpesa.cli import config_from_env
from gamehub.payments.mpesa.simulator import NOT_FOUND_CODE, SimulatorConfig
from tests.payments.conftest import (
    CALLBACK_DELAY,
    LATE_CALLBACK_DELAY,
    PHONE,
    SIM_ENV,
    Callbacks,
    RunningSimulator,
    free_port,
)

STK = "/mpesa/stkpush/v1/processrequest"
QUERY = "/mpesa/stkpushquery/v1/query"
B2C = "/mpesa/b2c/v3/paymentrequest"
STATUS = "/mpesa/transactionstatus/v1/query"
RECEIPT = re.compile(r"[A-Z0-9]{10}")
PLACEHOLDER = re.compile(r"[A-Z][A-L][1-9A-V]0000000")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def assert_gateway_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"requestId", "errorCode", "errorMessage"}
    assert (body["errorCode"], body["errorMessage"]) == (code, message)


async def push(
    simulator: RunningSimulator,
    http: httpx.AsyncClient,
    callbacks: Callbacks,
    amount: int,
    **overrides: Any,
) -> dict[str, Any]:
    body = simulator.stk_body(amount, **{"CallBackURL": callbacks.url("stk"), **overrides})
    response = await simulator.post(http, STK, body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def query(
    simulator: RunningSimulator, http: httpx.AsyncClient, checkout_request_id: str
) -> httpx.Response:
    return await simulator.post(http, QUERY, simulator.query_body(checkout_request_id))


async def pay_out(
    simulator: RunningSimulator,
    http: httpx.AsyncClient,
    callbacks: Callbacks,
    amount: int,
    **overrides: Any,
) -> dict[str, Any]:
    body = simulator.b2c_body(
        amount,
        ResultURL=callbacks.url("result"),
        QueueTimeOutURL=callbacks.url("timeout"),
        **overrides,
    )
    response = await simulator.post(http, B2C, body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def status_of(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks, **ids: Any
) -> dict[str, Any]:
    body = simulator.status_body(ResultURL=callbacks.url("status"), **ids)
    response = await simulator.post(http, STATUS, body)
    assert response.status_code == 200, response.text
    await simulator.flush(http)
    (payload,) = await callbacks.wait("status")
    result: dict[str, Any] = payload["Result"]
    return result


def parameters(result: dict[str, Any]) -> dict[str, Any]:
    return {p["Key"]: p.get("Value") for p in result["ResultParameters"]["ResultParameter"]}


# -- OAuth and the gateway's own errors ---------------------------------------------------


@pytest.mark.anyio
async def test_oauth_issues_a_token_with_a_string_expires_in(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        f"{simulator.base_url}/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        auth=(
            SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_KEY"],
            SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_SECRET"],
        ),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == "3599"
    assert len(body["access_token"]) == 28


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("grant", "headers", "code", "message"),
    [
        ("password", None, "400.008.02", "Invalid grant type passed"),
        (None, None, "400.008.02", "Invalid grant type passed"),
        ("client_credentials", {}, "400.008.01", "Invalid authentication type passed"),
        (
            "client_credentials",
            {"Authorization": "Bearer abc"},
            "400.008.01",
            "Invalid authentication type passed",
        ),
        (
            "client_credentials",
            {"Authorization": "Basic dGVzdC1jb25zdW1lci1rZXk6d3Jvbmc="},  # the key, a wrong secret
            "400.008.01",
            "Invalid authentication type passed",
        ),
        (
            "client_credentials",
            {"Authorization": "Basic %%%"},
            "400.008.01",
            "Invalid authentication type passed",
        ),
    ],
)
async def test_oauth_refusals(
    simulator: RunningSimulator,
    http: httpx.AsyncClient,
    grant: str | None,
    headers: dict[str, str] | None,
    code: str,
    message: str,
) -> None:
    key, secret = (
        SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_KEY"],
        SIM_ENV["GAMEHUB_MPESA_SIM_CONSUMER_SECRET"],
    )
    response = await http.get(
        f"{simulator.base_url}/oauth/v1/generate",
        params={} if grant is None else {"grant_type": grant},
        headers=headers,
        auth=(key, secret) if headers is None else None,
    )
    assert_gateway_error(response, 400, code, message)


@pytest.mark.anyio
async def test_a_new_token_invalidates_the_previous_one(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    first = await simulator.token(http)
    second = await simulator.token(http)
    assert first != second
    refused = await simulator.post(http, QUERY, simulator.query_body("ws_CO_x"), token=first)
    assert_gateway_error(refused, 404, "404.001.03", "Invalid Access Token")
    accepted = await simulator.post(http, QUERY, simulator.query_body("ws_CO_x"), token=second)
    assert_gateway_error(accepted, 400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")


@pytest.mark.anyio
async def test_an_expired_token_is_refused(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    token = await simulator.token(http)
    await http.post(f"{simulator.base_url}/simulator/expire-token")
    response = await simulator.post(http, STK, simulator.stk_body(), token=token)
    assert_gateway_error(response, 404, "404.001.03", "Invalid Access Token")


@pytest.mark.anyio
async def test_a_missing_bearer_header_is_refused(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    response = await http.post(simulator.base_url + STK, json=simulator.stk_body())
    assert_gateway_error(response, 404, "404.001.04", "Invalid Authentication passed")


@pytest.mark.anyio
async def test_unknown_paths_and_wrong_methods_answer_in_envelopes(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    missing = await http.post(f"{simulator.base_url}/mpesa/c2b/v1/registerurl", json={})
    assert_gateway_error(missing, 404, "404.001.01", "Resource not found")
    wrong_method = await http.get(simulator.base_url + STK)
    assert_gateway_error(wrong_method, 405, "405.001", "Method Not Allowed")


# -- STK Push -----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"BusinessShortCode": "17a379"}, "BusinessShortCode"),
        ({"BusinessShortCode": None}, "BusinessShortCode"),
        ({"Password": ""}, "Password"),
        ({"Timestamp": "2024"}, "Timestamp"),
        ({"Timestamp": "20241332000000"}, "Timestamp"),
        ({"TransactionType": "CustomerPay"}, "TransactionType"),
        ({"Amount": 0}, "Amount"),
        ({"Amount": 250_001}, "Amount"),
        ({"Amount": "1.5"}, "Amount"),
        ({"Amount": 1.5}, "Amount"),
        ({"Amount": True}, "Amount"),
        ({"Amount": "abc"}, "Amount"),
        ({"Amount": -5}, "Amount"),
        ({"PartyA": "0708374149"}, "PartyA"),
        ({"PartyB": "abc"}, "PartyB"),
        ({"PhoneNumber": "25470837414"}, "PhoneNumber"),
        ({"CallBackURL": "https://example.com/ cb"}, "CallBackURL"),
        ({"CallBackURL": "example.com/callback"}, "CallBackURL"),
        ({"AccountReference": ""}, "AccountReference"),
        ({"TransactionDesc": "fourteen chars"}, "TransactionDesc"),
    ],
)
async def test_stk_push_validates_fields(
    simulator: RunningSimulator, http: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    response = await simulator.post(http, STK, simulator.stk_body(**overrides))
    assert_gateway_error(response, 400, "400.002.02", f"Bad Request - Invalid {field}")


@pytest.mark.anyio
async def test_a_body_that_is_not_json_reads_as_a_missing_shortcode(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    token = await simulator.token(http)
    response = await http.post(
        simulator.base_url + STK,
        content=b"BusinessShortCode=174379",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
    )
    assert_gateway_error(response, 400, "400.002.02", "Bad Request - Invalid BusinessShortCode")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "credentials",
    [
        # A Password built at another moment than the Timestamp field says.
        lambda body: {
            "Password": stk_credentials("174379", SIM_ENV["GAMEHUB_MPESA_SIM_PASSKEY"]).password,
            "Timestamp": "20240101000000",
        },
        lambda body: {"Password": stk_credentials("174379", "wrong-passkey").password},
        lambda body: {
            "Password": stk_credentials("600000", SIM_ENV["GAMEHUB_MPESA_SIM_PASSKEY"]).password
        },
    ],
)
async def test_stk_password_is_checked(
    simulator: RunningSimulator, http: httpx.AsyncClient, credentials: Any
) -> None:
    body = simulator.stk_body()
    body.update(credentials(body))
    response = await simulator.post(http, STK, body)
    assert_gateway_error(response, 500, "500.001.1001", "Wrong credentials")


@pytest.mark.anyio
async def test_an_unknown_shortcode_is_not_a_merchant(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    body = simulator.stk_body(BusinessShortCode="600000", PartyB="600000")
    response = await simulator.post(http, STK, body)
    assert_gateway_error(response, 500, "500.001.1001", "Merchant does not exist")


@pytest.mark.anyio
async def test_numbers_may_arrive_as_strings_and_strings_as_numbers(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    body = simulator.stk_body("1", BusinessShortCode=174379, PartyA=int(PHONE), PartyB=174379)
    response = await simulator.post(http, STK, body)
    assert response.status_code == 200, response.text
    assert response.json()["ResponseCode"] == "0"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("amount", "reference", "code"),
    [
        (100, "USER123", 0),
        (250, "USER123", 0),
        (1, "USER123", 0),
        (111, "USER123", 1),
        (121, "USER123", 2001),
        (132, "USER123", 1032),
        (137, "USER123", 1037),
        (100, "THIRTEENCHARS", 1025),
    ],
)
async def test_stk_scenarios(
    simulator: RunningSimulator,
    http: httpx.AsyncClient,
    callbacks: Callbacks,
    amount: int,
    reference: str,
    code: int,
) -> None:
    accepted = await push(simulator, http, callbacks, amount, AccountReference=reference)
    assert accepted["ResponseCode"] == "0"
    assert accepted["ResponseDescription"] == "Success. Request accepted for processing"
    assert accepted["CheckoutRequestID"].startswith("ws_CO_")
    await simulator.flush(http)

    (payload,) = await callbacks.wait("stk")
    raw = payload["Body"]["stkCallback"]
    assert raw["ResultCode"] == code
    assert type(raw["ResultCode"]) is int
    assert raw["CheckoutRequestID"] == accepted["CheckoutRequestID"]
    assert raw["MerchantRequestID"] == accepted["MerchantRequestID"]
    if code == 0:
        items = raw["CallbackMetadata"]["Item"]
        assert [item["Name"] for item in items] == [
            "Amount",
            "MpesaReceiptNumber",
            "Balance",
            "TransactionDate",
            "PhoneNumber",
        ]
        values = {item["Name"]: item.get("Value") for item in items}
        assert "Value" not in items[2]
        assert type(values["Amount"]) is float
        assert values["Amount"] == amount
        assert RECEIPT.fullmatch(values["MpesaReceiptNumber"])
        assert type(values["TransactionDate"]) is int
        assert len(str(values["TransactionDate"])) == 14
        assert values["PhoneNumber"] == int(PHONE)
    else:
        assert "CallbackMetadata" not in raw
    assert parse_stk_callback(payload).result_code == str(code)

    answer = await query(simulator, http, accepted["CheckoutRequestID"])
    assert answer.status_code == 200
    assert answer.json() == {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": accepted["MerchantRequestID"],
        "CheckoutRequestID": accepted["CheckoutRequestID"],
        "ResultCode": str(code),
        "ResultDesc": raw["ResultDesc"],
    }


@pytest.mark.anyio
async def test_a_push_is_pending_then_its_callback_arrives_by_itself(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    accepted = await push(simulator, http, callbacks, 100)
    checkout = accepted["CheckoutRequestID"]
    pending = await query(simulator, http, checkout)
    assert_gateway_error(pending, 500, "500.001.1001", "The transaction is being processed")
    assert pending.json()["requestId"] == checkout

    (payload,) = await callbacks.wait("stk")
    assert parse_stk_callback(payload).succeeded
    assert (await query(simulator, http, checkout)).json()["ResultCode"] == "0"
    (record,) = [c for c in await simulator.callbacks(http) if c["url"] == callbacks.url("stk")]
    assert (record["kind"], record["state"], record["status_code"]) == ("stk", "delivered", 200)


@pytest.mark.anyio
async def test_no_callback_scenario_still_answers_the_query(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    accepted = await push(simulator, http, callbacks, 191)
    await simulator.flush(http)
    answer = await query(simulator, http, accepted["CheckoutRequestID"])
    assert answer.json()["ResultCode"] == "0"
    # Past even a late callback's time: every callback then due has been delivered.
    await simulator.advance(http, LATE_CALLBACK_DELAY)
    assert callbacks.received("stk") == []
    assert all(c["url"] != callbacks.url("stk") for c in await simulator.callbacks(http))


@pytest.mark.anyio
async def test_duplicate_callback_scenario(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    await push(simulator, http, callbacks, 192)
    await simulator.flush(http)
    first, second = await callbacks.wait("stk", count=2)
    assert first == second
    assert parse_stk_callback(first).succeeded


@pytest.mark.anyio
async def test_late_callback_arrives_after_the_query_knows(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    accepted = await push(simulator, http, callbacks, 193)
    await simulator.advance(http, CALLBACK_DELAY)
    assert (await query(simulator, http, accepted["CheckoutRequestID"])).json()["ResultCode"] == "0"
    # An ordinary callback would have been delivered by now; the late one is not due yet.
    assert callbacks.received("stk") == []
    await simulator.advance(http, LATE_CALLBACK_DELAY - CALLBACK_DELAY)
    (payload,) = callbacks.received("stk")
    assert parse_stk_callback(payload).succeeded


@pytest.mark.anyio
async def test_a_late_cancellation_is_known_to_the_query_before_its_callback(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    accepted = await push(simulator, http, callbacks, 133)
    await simulator.advance(http, CALLBACK_DELAY)
    assert (await query(simulator, http, accepted["CheckoutRequestID"])).json()["ResultCode"] == (
        "1032"
    )
    assert callbacks.received("stk") == []
    await simulator.advance(http, LATE_CALLBACK_DELAY - CALLBACK_DELAY)
    (payload,) = callbacks.received("stk")
    assert parse_stk_callback(payload).result_code == "1032"


@pytest.mark.anyio
async def test_a_slow_customer_keeps_the_push_pending_until_the_late_callback(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    accepted = await push(simulator, http, callbacks, 196)
    await simulator.advance(http, CALLBACK_DELAY)
    assert_gateway_error(
        await query(simulator, http, accepted["CheckoutRequestID"]),
        500,
        "500.001.1001",
        "The transaction is being processed",
    )
    assert callbacks.received("stk") == []
    await simulator.advance(http, LATE_CALLBACK_DELAY - CALLBACK_DELAY)
    (payload,) = callbacks.received("stk")
    assert parse_stk_callback(payload).succeeded
    assert (await query(simulator, http, accepted["CheckoutRequestID"])).json()["ResultCode"] == "0"


@pytest.mark.anyio
async def test_query_checks_its_password_and_id(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    body = simulator.query_body("ws_CO_x", Password="d3Jvbmc=")
    assert_gateway_error(
        await simulator.post(http, QUERY, body), 500, "500.001.1001", "Wrong credentials"
    )
    body = simulator.query_body("")
    assert_gateway_error(
        await simulator.post(http, QUERY, body),
        400,
        "400.002.02",
        "Bad Request - Invalid CheckoutRequestID",
    )


# -- B2C ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"OriginatorConversationID": None}, "OriginatorConversationID"),
        ({"InitiatorName": ""}, "InitiatorName"),
        ({"SecurityCredential": "not base64!"}, "SecurityCredential"),
        ({"SecurityCredential": "c2hvcnQ="}, "SecurityCredential"),
        ({"CommandID": "Payment"}, "CommandID"),
        ({"Amount": 9}, "Amount"),
        ({"Amount": 250_001}, "Amount"),
        ({"Amount": "10.5"}, "Amount"),
        ({"PartyA": "x"}, "PartyA"),
        ({"PartyB": "0708374149"}, "PartyB"),
        ({"Remarks": "x"}, "Remarks"),
        ({"QueueTimeOutURL": "nope"}, "QueueTimeOutURL"),
        ({"ResultURL": "nope"}, "ResultURL"),
        ({"Occassion": ""}, "Occassion"),
        ({"Occasion": "x" * 101}, "Occasion"),
    ],
)
async def test_b2c_validates_fields(
    simulator: RunningSimulator, http: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    response = await simulator.post(http, B2C, simulator.b2c_body(**overrides))
    assert_gateway_error(response, 400, "400.002.02", f"Bad Request - Invalid {field}")


@pytest.mark.anyio
async def test_b2c_from_an_unknown_shortcode(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    response = await simulator.post(http, B2C, simulator.b2c_body(PartyA="600000"))
    assert_gateway_error(response, 500, "500.001.1001", "Merchant does not exist")


@pytest.mark.anyio
@pytest.mark.parametrize(("amount", "code"), [(100, 0), (111, 1), (140, 2040), (103, "SFC_IC0003")])
async def test_b2c_scenarios(
    simulator: RunningSimulator,
    http: httpx.AsyncClient,
    callbacks: Callbacks,
    amount: int,
    code: int | str,
) -> None:
    accepted = await pay_out(simulator, http, callbacks, amount)
    assert re.fullmatch(r"AG_\d{8}_[0-9a-f]{20}", accepted["ConversationID"])
    assert accepted["ResponseCode"] == "0"
    assert accepted["ResponseDescription"] == "Accept the service request successfully."
    await simulator.flush(http)

    (payload,) = await callbacks.wait("result")
    result = payload["Result"]
    assert result["ResultCode"] == code
    assert type(result["ResultCode"]) is type(code)
    assert result["ResultType"] == 0
    assert result["OriginatorConversationID"] == accepted["OriginatorConversationID"]
    assert result["ConversationID"] == accepted["ConversationID"]
    # Daraja's XML-to-JSON step sends a one-element list as a bare object.
    assert result["ReferenceData"]["ReferenceItem"] == {
        "Key": "QueueTimeoutURL",
        "Value": callbacks.url("timeout"),
    }
    parsed = parse_b2c_result(payload)
    if code == 0:
        params = parameters(result)
        assert params["TransactionAmount"] == amount
        assert params["TransactionReceipt"] == result["TransactionID"]
        assert RECEIPT.fullmatch(result["TransactionID"])
        assert params["B2CRecipientIsRegisteredCustomer"] == "Y"
        assert re.fullmatch(
            r"\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d", params["TransactionCompletedDateTime"]
        )
        assert (parsed.amount_kes, parsed.receipt) == (amount, result["TransactionID"])
    else:
        assert "ResultParameters" not in result
        assert PLACEHOLDER.fullmatch(result["TransactionID"])
        assert parsed.result_code == str(code)
    assert callbacks.received("timeout") == []


@pytest.mark.anyio
@pytest.mark.parametrize("wrong", ["password", "certificate", "initiator"])
async def test_wrong_initiator_information_fails_with_2001(
    simulator: RunningSimulator,
    http: httpx.AsyncClient,
    callbacks: Callbacks,
    tmp_path: Path,
    wrong: str,
) -> None:
    overrides: dict[str, Any] = {}
    if wrong == "password":
        overrides["SecurityCredential"] = simulator.credential(password="Safaricom999!*!")
    elif wrong == "certificate":
        _, other = ensure_simulator_keypair(tmp_path)
        overrides["SecurityCredential"] = simulator.credential(certificate=other)
    else:
        overrides["InitiatorName"] = "someone"
    await pay_out(simulator, http, callbacks, 100, **overrides)
    await simulator.flush(http)
    (payload,) = await callbacks.wait("result")
    assert payload["Result"]["ResultCode"] == 2001
    assert payload["Result"]["ResultDesc"] == "The initiator information is invalid."


@pytest.mark.anyio
async def test_b2c_accepts_occasion_spelled_either_way(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    body = simulator.b2c_body(Occasion="W-2")
    del body["Occassion"]
    assert (await simulator.post(http, B2C, body)).status_code == 200


@pytest.mark.anyio
async def test_b2c_rejects_a_reused_originator_conversation_id(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    body = simulator.b2c_body(SecurityCredential=simulator.credential(password="wrong"))
    assert (await simulator.post(http, B2C, body)).status_code == 200
    again = simulator.b2c_body(OriginatorConversationID=body["OriginatorConversationID"])
    response = await simulator.post(http, B2C, again)
    assert_gateway_error(response, 500, "500.002.1001", "Duplicate OriginatorConversationID.")


@pytest.mark.anyio
async def test_b2c_without_a_result_is_found_by_transaction_status(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    accepted = await pay_out(simulator, http, callbacks, 191)
    await simulator.flush(http)
    result = await status_of(
        simulator, http, callbacks, OriginalConversationID=accepted["ConversationID"]
    )
    assert result["ResultCode"] == 0
    params = parameters(result)
    assert params["TransactionStatus"] == "Completed"
    # The older spelling with spaces, on purpose.
    assert params["Originator Conversation ID"] == accepted["OriginatorConversationID"]
    assert params["Conversation ID"] == accepted["ConversationID"]
    assert callbacks.received("result") == []


@pytest.mark.anyio
async def test_b2c_duplicate_and_late_results(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    await pay_out(simulator, http, callbacks, 192)
    late = Callbacks(callbacks.receiver)
    await pay_out(simulator, http, late, 193)
    scheduled = [c for c in await simulator.callbacks(http) if c["url"] == late.url("result")]
    assert [c["state"] for c in scheduled] == ["scheduled"]
    await simulator.flush(http)
    first, second = await callbacks.wait("result", count=2)
    assert first == second
    (payload,) = await late.wait("result")
    assert parse_b2c_result(payload).succeeded


@pytest.mark.anyio
async def test_a_failed_b2c_behind_a_queue_timeout(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    accepted = await pay_out(simulator, http, callbacks, 195)
    await simulator.flush(http)
    (payload,) = await callbacks.wait("timeout")
    assert payload == {
        "Result": {
            "ResultType": 0,
            "ResultCode": 1,
            "ResultDesc": "The service request has timed out.",
            "OriginatorConversationID": accepted["OriginatorConversationID"],
            "ConversationID": accepted["ConversationID"],
        }
    }
    assert callbacks.received("result") == []
    status = await status_of(
        simulator, http, callbacks, OriginalConversationID=accepted["OriginatorConversationID"]
    )
    assert parameters(status)["TransactionStatus"] == "Failed"
    assert not parse_transaction_status_result({"Result": status}).completed


# -- Transaction Status -------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({}, "TransactionID"),
        ({"TransactionID": "X", "CommandID": "Status"}, "CommandID"),
        ({"TransactionID": "X", "IdentifierType": "3"}, "IdentifierType"),
        ({"TransactionID": "X", "ResultURL": "nope"}, "ResultURL"),
        ({"TransactionID": "X", "Remarks": ""}, "Remarks"),
        ({"TransactionID": "X", "Initiator": None}, "Initiator"),
    ],
)
async def test_transaction_status_validates_fields(
    simulator: RunningSimulator, http: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    response = await simulator.post(http, STATUS, simulator.status_body(**overrides))
    assert_gateway_error(response, 400, "400.002.02", f"Bad Request - Invalid {field}")


@pytest.mark.anyio
async def test_transaction_status_of_an_stk_receipt(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    await push(simulator, http, callbacks, 150)
    await simulator.flush(http)
    (payload,) = await callbacks.wait("stk")
    receipt = parse_stk_callback(payload).receipt_number
    response = await simulator.post(
        http, STATUS, simulator.status_body(TransactionID=receipt, ResultURL=callbacks.url("s2"))
    )
    reply = response.json()
    assert set(reply) == {
        "ConversationID",
        "OriginatorConversationID",
        "ResponseCode",
        "ResponseDescription",
    }
    await simulator.flush(http)
    (result_payload,) = await callbacks.wait("s2")
    result = parse_transaction_status_result(result_payload)
    assert result.completed
    assert (result.receipt_no, result.amount_kes) == (receipt, 150)
    assert result.conversation_id == reply["ConversationID"]
    assert result.finalised_at is not None


@pytest.mark.anyio
async def test_transaction_status_of_an_unknown_payment(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    result = await status_of(simulator, http, callbacks, TransactionID="SZZ0000000")
    assert result["ResultCode"] == NOT_FOUND_CODE
    assert "ResultParameters" not in result


@pytest.mark.anyio
async def test_transaction_status_with_a_wrong_credential(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    result = await status_of(
        simulator,
        http,
        callbacks,
        TransactionID="SZZ0000000",
        Occasion="xf",
        SecurityCredential=simulator.credential(password="nope"),
    )
    assert (result["ResultCode"], result["ResultDesc"]) == (
        2001,
        "The initiator information is invalid.",
    )
    assert PLACEHOLDER.fullmatch(result["TransactionID"])
    assert result["ReferenceData"] == {"ReferenceItem": {"Key": "Occasion", "Value": "xf"}}


# -- hooks and configuration --------------------------------------------------------------


@pytest.mark.anyio
async def test_requests_are_listed(simulator: RunningSimulator, http: httpx.AsyncClient) -> None:
    marker = f"gh-{uuid.uuid4().hex}"
    await simulator.post(http, B2C, simulator.b2c_body(OriginatorConversationID=marker))
    (entry,) = [
        r
        for r in await simulator.requests(http)
        if isinstance(r["body"], dict) and r["body"].get("OriginatorConversationID") == marker
    ]
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", B2C, 200)


@pytest.mark.anyio
async def test_flush_reports_what_it_delivered(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    await simulator.flush(http)
    # Late callbacks, so that their own timers cannot beat the flush.
    await push(simulator, http, callbacks, 193)
    refused_url = f"http://127.0.0.1:{free_port()}/refused"
    await push(simulator, http, callbacks, 193, CallBackURL=refused_url)
    assert await simulator.flush(http) == 2
    assert await simulator.flush(http) == 0
    assert len(callbacks.received("stk")) == 1
    (refused,) = [c for c in await simulator.callbacks(http) if c["url"] == refused_url]
    assert (refused["state"], refused["status_code"]) == ("failed", None)
    assert refused["error"].startswith("ConnectError")


@pytest.mark.anyio
async def test_advance_moves_only_forward_and_reports_what_fell_due(
    simulator: RunningSimulator, http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    await simulator.flush(http)
    await push(simulator, http, callbacks, 193)
    assert await simulator.advance(http, CALLBACK_DELAY) == 0
    assert await simulator.advance(http, LATE_CALLBACK_DELAY) == 1
    assert len(callbacks.received("stk")) == 1
    back = await http.post(f"{simulator.base_url}/simulator/advance", json={"seconds": -1})
    assert back.status_code == 400, back.text


def test_config_from_env() -> None:
    config = config_from_env(
        {
            "GAMEHUB_MPESA_SIM_SHORTCODE": "123456",
            "GAMEHUB_MPESA_SIM_KEYS_DIR": "/tmp/keys",
            "GAMEHUB_MPESA_SIM_CALLBACK_DELAY_SECONDS": "0.05",
            "GAMEHUB_MPESA_SIM_TOKEN_TTL_SECONDS": "120",
            "UNRELATED": "x",
        }
    )
    assert config == SimulatorConfig(
        shortcode="123456",
        keys_dir=Path("/tmp/keys"),
        callback_delay_seconds=0.05,
        token_ttl_seconds=120,
    )


def test_config_from_env_names_a_bad_variable() -> None:
    with pytest.raises(ValueError, match="GAMEHUB_MPESA_SIM_LATE_CALLBACK_DELAY_SECONDS"):
        config_from_env({"GAMEHUB_MPESA_SIM_LATE_CALLBACK_DELAY_SECONDS": "soon"})
