"""The Daraja client against the simulator over HTTP, and against a loopback server playing
a gateway that misbehaves."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamehub.core.mpesa.client import (
    DarajaClient,
    DarajaError,
    DarajaUnavailable,
    RequestAccepted,
    StkPending,
    StkQueryResult,
    TokenCache,
    normalise_msisdn,
)
from gamehub.payments.mpesa.callbacks import (
    parse_b2c_result,
    parse_stk_callback,
    parse_transaction_status_result,
)
from tests.payments.conftest import (
    WAIT_SECONDS,
    Callbacks,
    LoopbackServer,
    Received,
    RunningSimulator,
    free_port,
)

PHONE = "0708374149"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
async def client(simulator: RunningSimulator) -> AsyncIterator[DarajaClient]:
    async with DarajaClient(simulator.daraja_config()) as daraja:
        yield daraja


async def oauth_count(simulator: RunningSimulator, http: httpx.AsyncClient) -> int:
    return sum(r["path"] == "/oauth/v1/generate" for r in await simulator.requests(http))


def envelope(code: str, message: str) -> bytes:
    return json.dumps({"requestId": "r-1", "errorCode": code, "errorMessage": message}).encode()


STK_ACCEPTED = json.dumps(
    {
        "MerchantRequestID": "m-1",
        "CheckoutRequestID": "ws_CO_1",
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing",
    }
).encode()


def gateway_answering(post: tuple[int, bytes], token: bytes | None = None) -> Any:
    oauth = token or b'{"access_token":"fake-token","expires_in":"3599"}'

    def respond(request: Received) -> tuple[int, bytes]:
        return (200, oauth) if request.method == "GET" else post

    return respond


# -- against the simulator --------------------------------------------------------------


@pytest.mark.anyio
async def test_stk_push_is_pending_until_decided(
    simulator: RunningSimulator, client: DarajaClient, callbacks: Callbacks, http: httpx.AsyncClient
) -> None:
    accepted = await client.stk_push(100, PHONE, "USER123", "Deposit", callbacks.url("stk"))
    assert accepted.checkout_request_id.startswith("ws_CO_")
    assert accepted.customer_message == "Success. Request accepted for processing"

    assert await client.stk_query(accepted.checkout_request_id) == StkPending(
        accepted.checkout_request_id
    )
    await simulator.flush(http)
    result = await client.stk_query(accepted.checkout_request_id)
    assert isinstance(result, StkQueryResult)
    assert result.succeeded
    assert result.merchant_request_id == accepted.merchant_request_id

    (payload,) = await callbacks.wait("stk")
    callback = parse_stk_callback(payload)
    assert callback.checkout_request_id == accepted.checkout_request_id
    assert callback.amount_kes == 100
    assert callback.phone_number == "254708374149"


@pytest.mark.anyio
async def test_stk_failure_is_reported_by_the_query(
    simulator: RunningSimulator, client: DarajaClient, callbacks: Callbacks, http: httpx.AsyncClient
) -> None:
    accepted = await client.stk_push(132, PHONE, "USER123", "Deposit", callbacks.url("stk"))
    await simulator.flush(http)
    result = await client.stk_query(accepted.checkout_request_id)
    assert isinstance(result, StkQueryResult)
    assert (result.result_code, result.succeeded) == ("1032", False)
    (payload,) = await callbacks.wait("stk")
    assert parse_stk_callback(payload).result_code == "1032"


@pytest.mark.anyio
async def test_wrong_passkey_is_wrong_credentials(simulator: RunningSimulator) -> None:
    async with DarajaClient(simulator.daraja_config(passkey="not-the-passkey")) as daraja:
        with pytest.raises(DarajaError) as caught:
            await daraja.stk_push(100, PHONE, "USER123", "Deposit", "https://example.com/cb")
    assert caught.value.error_code == "500.001.1001"
    assert caught.value.error_message == "Wrong credentials"
    assert caught.value.http_status == 500


@pytest.mark.anyio
async def test_wrong_consumer_secret(simulator: RunningSimulator) -> None:
    config = simulator.daraja_config(consumer_secret="wrong")
    async with DarajaClient(config, tokens=TokenCache()) as daraja:
        with pytest.raises(DarajaError) as caught:
            await daraja.stk_query("ws_CO_unknown")
    assert caught.value.error_code == "400.008.01"


@pytest.mark.anyio
async def test_unknown_checkout_request_id(client: DarajaClient) -> None:
    with pytest.raises(DarajaError, match="Invalid CheckoutRequestID"):
        await client.stk_query("ws_CO_unknown")


@pytest.mark.anyio
async def test_clients_in_one_process_share_a_token(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    async with DarajaClient(simulator.daraja_config()) as first:
        await first.stk_push(100, PHONE, "USER123", "Deposit", "https://example.com/cb")
    before = await oauth_count(simulator, http)
    async with DarajaClient(simulator.daraja_config()) as second:
        await second.stk_push(100, PHONE, "USER123", "Deposit", "https://example.com/cb")
    assert await oauth_count(simulator, http) == before


@pytest.mark.anyio
async def test_token_is_refreshed_a_minute_before_expiry(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    now = [1000.0]
    tokens = TokenCache(clock=lambda: now[0])
    async with DarajaClient(simulator.daraja_config(), tokens=tokens) as daraja:
        start = await oauth_count(simulator, http)
        await daraja.stk_push(100, PHONE, "USER123", "Deposit", "https://example.com/cb")
        assert await oauth_count(simulator, http) == start + 1
        now[0] += 3500  # expires_in is "3599": still more than a minute left
        await daraja.stk_push(100, PHONE, "USER123", "Deposit", "https://example.com/cb")
        assert await oauth_count(simulator, http) == start + 1
        now[0] += 40
        await daraja.stk_push(100, PHONE, "USER123", "Deposit", "https://example.com/cb")
        assert await oauth_count(simulator, http) == start + 2


@pytest.mark.anyio
async def test_an_expired_token_is_replaced_and_the_call_retried(
    simulator: RunningSimulator, http: httpx.AsyncClient
) -> None:
    async with DarajaClient(simulator.daraja_config(), tokens=TokenCache()) as daraja:
        await daraja.stk_push(100, PHONE, "USER123", "Deposit", "https://example.com/cb")
        await http.post(f"{simulator.base_url}/simulator/expire-token")
        accepted = await daraja.stk_push(100, PHONE, "USER123", "Deposit", "https://example.com/cb")
    tail = [(r["path"], r["status"]) for r in (await simulator.requests(http))[-3:]]
    assert tail == [
        ("/mpesa/stkpush/v1/processrequest", 404),
        ("/oauth/v1/generate", 200),
        ("/mpesa/stkpush/v1/processrequest", 200),
    ]
    assert accepted.checkout_request_id.startswith("ws_CO_")


@pytest.mark.anyio
async def test_b2c_payment_sends_both_spellings_of_occasion(
    simulator: RunningSimulator, client: DarajaClient, callbacks: Callbacks, http: httpx.AsyncClient
) -> None:
    originator = f"gh-{uuid.uuid4().hex}"
    accepted = await client.b2c_payment(
        originator, 100, PHONE, "withdrawal", "W-1", callbacks.url("result"), callbacks.url("qto")
    )
    assert isinstance(accepted, RequestAccepted)
    assert accepted.originator_conversation_id == originator
    assert accepted.conversation_id.startswith("AG_")
    sent = next(
        r["body"]
        for r in reversed(await simulator.requests(http))
        if r["path"] == "/mpesa/b2c/v3/paymentrequest"
    )
    assert (sent["Occassion"], sent["Occasion"]) == ("W-1", "W-1")
    assert (sent["PartyB"], sent["Amount"], sent["CommandID"]) == (
        "254708374149",
        100,
        "BusinessPayment",
    )

    await simulator.flush(http)
    (payload,) = await callbacks.wait("result")
    result = parse_b2c_result(payload)
    assert result.succeeded
    assert (result.originator_conversation_id, result.amount_kes) == (originator, 100)
    assert result.receipt == result.transaction_id


@pytest.mark.anyio
async def test_b2c_with_a_wrong_initiator_password_fails_with_2001(
    simulator: RunningSimulator, callbacks: Callbacks, http: httpx.AsyncClient
) -> None:
    async with DarajaClient(simulator.daraja_config(initiator_password="guess")) as daraja:
        await daraja.b2c_payment(
            f"gh-{uuid.uuid4().hex}",
            100,
            PHONE,
            "withdrawal",
            None,
            callbacks.url("result"),
            callbacks.url("qto"),
        )
    await simulator.flush(http)
    (payload,) = await callbacks.wait("result")
    assert parse_b2c_result(payload).result_code == "2001"


@pytest.mark.anyio
async def test_b2c_duplicate_originator_conversation_id(
    client: DarajaClient, callbacks: Callbacks
) -> None:
    originator = f"gh-{uuid.uuid4().hex}"
    args = (originator, 100, PHONE, "withdrawal", None, callbacks.url("r"), callbacks.url("t"))
    await client.b2c_payment(*args)
    with pytest.raises(DarajaError) as caught:
        await client.b2c_payment(*args)
    assert caught.value.error_code == "500.002.1001"
    assert caught.value.duplicate_request
    assert not caught.value.outcome_unknown


@pytest.mark.anyio
async def test_timed_out_b2c_is_reconciled_by_transaction_status(
    simulator: RunningSimulator, client: DarajaClient, callbacks: Callbacks, http: httpx.AsyncClient
) -> None:
    originator = f"gh-{uuid.uuid4().hex}"
    await client.b2c_payment(
        originator, 194, PHONE, "withdrawal", None, callbacks.url("result"), callbacks.url("qto")
    )
    await simulator.flush(http)
    (timeout,) = await callbacks.wait("qto")
    assert parse_b2c_result(timeout).result_code == "1"

    await client.transaction_status(
        originator_conversation_id=originator,
        result_url=callbacks.url("status"),
        timeout_url=callbacks.url("status-qto"),
    )
    await simulator.flush(http)
    (payload,) = await callbacks.wait("status")
    status = parse_transaction_status_result(payload)
    assert status.completed
    assert status.transaction_originator_conversation_id == originator
    assert status.amount_kes == 194
    assert status.receipt_no is not None

    await client.transaction_status(
        transaction_id=status.receipt_no,
        result_url=callbacks.url("by-receipt"),
        timeout_url=callbacks.url("status-qto"),
        occasion="reconcile",
    )
    await simulator.flush(http)
    (payload,) = await callbacks.wait("by-receipt")
    assert parse_transaction_status_result(payload).receipt_no == status.receipt_no
    assert callbacks.received("result") == []


@pytest.mark.anyio
async def test_supplied_http_client_is_left_open(simulator: RunningSimulator) -> None:
    async with httpx.AsyncClient() as shared:
        async with DarajaClient(simulator.daraja_config(), shared) as daraja:
            await daraja.stk_push(10, PHONE, "USER123", "Deposit", "https://example.com/cb")
        assert not shared.is_closed


# -- against a misbehaving gateway --------------------------------------------------------


@pytest.mark.anyio
async def test_a_numeric_expires_in_is_accepted(
    simulator: RunningSimulator, gateway: LoopbackServer
) -> None:
    gateway.responder = gateway_answering(
        (200, STK_ACCEPTED), b'{"access_token":"numeric","expires_in":3599}'
    )
    config = simulator.daraja_config(base_url=gateway.url)
    async with DarajaClient(config, tokens=TokenCache()) as daraja:
        accepted = await daraja.stk_push(1, PHONE, "USER123", "Deposit", "https://e.com/cb")
        await daraja.stk_push(1, PHONE, "USER123", "Deposit", "https://e.com/cb")
    assert accepted.checkout_request_id == "ws_CO_1"
    methods = [r.method for r in gateway.received]
    assert methods == ["GET", "POST", "POST"]
    assert gateway.received[1].headers["authorization"] == "Bearer numeric"
    assert gateway.received[1].headers["content-type"] == "application/json"


@pytest.mark.anyio
async def test_a_token_refused_three_times_is_not_retried_again(
    simulator: RunningSimulator, gateway: LoopbackServer
) -> None:
    gateway.responder = gateway_answering((404, envelope("404.001.03", "Invalid Access Token")))
    async with DarajaClient(
        simulator.daraja_config(base_url=gateway.url), tokens=TokenCache()
    ) as daraja:
        with pytest.raises(DarajaError) as caught:
            await daraja.stk_query("ws_CO_1")
    assert caught.value.error_code == "404.001.03"
    assert caught.value.http_status == 404
    assert caught.value.request_id == "r-1"
    assert [r.method for r in gateway.received] == ["GET", "POST"] * 3


@pytest.mark.parametrize(
    "answer",
    [
        (502, b"<html>Bad gateway</html>"),
        (200, b"not json"),
        (200, b"[]"),
        (200, b'{"ResponseCode":"0"}'),
        (200, b'{"ResponseCode":"0","MerchantRequestID":"m","CheckoutRequestID":null}'),
    ],
)
@pytest.mark.anyio
async def test_unreadable_answers_mean_outcome_unknown(
    simulator: RunningSimulator, gateway: LoopbackServer, answer: tuple[int, bytes]
) -> None:
    gateway.responder = gateway_answering(answer)
    config = simulator.daraja_config(base_url=gateway.url)
    async with DarajaClient(config, tokens=TokenCache()) as daraja:
        with pytest.raises(DarajaUnavailable):
            await daraja.stk_push(1, PHONE, "USER123", "Deposit", "https://e.com/cb")


@pytest.mark.parametrize(
    "token",
    [
        b'{"access_token":"t","expires_in":"soon"}',
        b'{"access_token":"t","expires_in":0}',
        b'{"access_token":"t","expires_in":true}',
        b'{"expires_in":"3599"}',
    ],
)
@pytest.mark.anyio
async def test_unusable_oauth_answers(
    simulator: RunningSimulator, gateway: LoopbackServer, token: bytes
) -> None:
    gateway.responder = gateway_answering((200, STK_ACCEPTED), token)
    config = simulator.daraja_config(base_url=gateway.url)
    async with DarajaClient(config, tokens=TokenCache()) as daraja:
        with pytest.raises(DarajaUnavailable, match="oauth"):
            await daraja.stk_query("ws_CO_1")


@pytest.mark.anyio
async def test_a_non_zero_response_code_is_an_error(
    simulator: RunningSimulator, gateway: LoopbackServer
) -> None:
    gateway.responder = gateway_answering(
        (200, b'{"ResponseCode":"1","ResponseDescription":"Rejected"}')
    )
    config = simulator.daraja_config(base_url=gateway.url)
    async with DarajaClient(config, tokens=TokenCache()) as daraja:
        with pytest.raises(DarajaError) as caught:
            await daraja.stk_push(1, PHONE, "USER123", "Deposit", "https://e.com/cb")
    assert (caught.value.error_code, caught.value.error_message) == ("1", "Rejected")


@pytest.mark.anyio
async def test_a_slow_gateway_times_out_as_unavailable(
    simulator: RunningSimulator, gateway: LoopbackServer
) -> None:
    # The gateway answers the push only once the client has given up on it.
    given_up = threading.Event()

    def slow(request: Received) -> tuple[int, bytes]:
        if request.method == "POST":
            given_up.wait(WAIT_SECONDS)
        return 200, b'{"access_token":"t","expires_in":"3599"}'

    gateway.responder = slow
    config = simulator.daraja_config(base_url=gateway.url, timeout_seconds=0.2)
    try:
        async with DarajaClient(config, tokens=TokenCache()) as daraja:
            with pytest.raises(DarajaUnavailable, match="ReadTimeout"):
                await daraja.stk_push(1, PHONE, "USER123", "Deposit", "https://e.com/cb")
    finally:
        given_up.set()


@pytest.mark.anyio
async def test_nothing_listening_is_unavailable(simulator: RunningSimulator) -> None:
    config = simulator.daraja_config(base_url=f"http://127.0.0.1:{free_port()}")
    async with DarajaClient(config, tokens=TokenCache()) as daraja:
        with pytest.raises(DarajaUnavailable, match="ConnectError"):
            await daraja.stk_query("ws_CO_1")


def test_internal_errors_leave_the_outcome_unknown() -> None:
    assert DarajaError("500.002.1001", "System internal error.", 500).outcome_unknown
    assert DarajaError("500.003.1001", "Internal Server Error", 500).outcome_unknown
    assert not DarajaError("500.003.02", "Spike Arrest Violation", 500).outcome_unknown
    assert not DarajaError("400.002.02", "Bad Request - Invalid Amount", 400).outcome_unknown


# -- argument checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.stk_push(0, PHONE, "REF", "Deposit", "https://e.com"), "between 1"),
        (lambda c: c.stk_push(250_001, PHONE, "REF", "Deposit", "https://e.com"), "between"),
        (lambda c: c.stk_push(True, PHONE, "REF", "Deposit", "https://e.com"), "whole"),
        (lambda c: c.stk_push(1.0, PHONE, "REF", "Deposit", "https://e.com"), "whole"),
        (lambda c: c.stk_push(1, "12345", "REF", "Deposit", "https://e.com"), "Kenyan"),
        (lambda c: c.stk_push(1, PHONE, "R" * 13, "Deposit", "https://e.com"), "account_ref"),
        (lambda c: c.stk_push(1, PHONE, "REF", "", "https://e.com"), "description"),
        (lambda c: c.stk_push(1, PHONE, "REF", "Q&A", "https://e.com"), "must not contain"),
        (lambda c: c.stk_push(1, PHONE, "REF", "Deposit", "https://e.com/a b"), "callback_url"),
        (lambda c: c.stk_push(1, PHONE, "REF", "Deposit", "ftp://e.com"), "callback_url"),
        (
            lambda c: c.b2c_payment("id", 9, PHONE, "pay", None, "https://e", "https://e"),
            "between 10",
        ),
        (
            lambda c: c.b2c_payment("", 10, PHONE, "pay", None, "https://e", "https://e"),
            "originator",
        ),
        (lambda c: c.b2c_payment("id", 10, PHONE, "p", None, "https://e", "https://e"), "remarks"),
        (lambda c: c.b2c_payment("id", 10, PHONE, "pay", "", "https://e", "https://e"), "occasion"),
        (
            lambda c: c.transaction_status(result_url="https://e", timeout_url="https://e"),
            "exactly one",
        ),
        (
            lambda c: c.transaction_status(
                result_url="https://e",
                timeout_url="https://e",
                transaction_id="X",
                originator_conversation_id="Y",
            ),
            "exactly one",
        ),
    ],
)
@pytest.mark.anyio
async def test_arguments_are_checked_before_sending(
    client: DarajaClient, call: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await call(client)


@pytest.mark.parametrize(
    "phone",
    ["0712345678", "+254712345678", "254712345678", " 0712345678 "],
)
def test_msisdn_forms(phone: str) -> None:
    assert normalise_msisdn(phone) == "254712345678"


def test_msisdn_newer_prefixes() -> None:
    assert normalise_msisdn("0110123456") == "254110123456"


@pytest.mark.parametrize(
    "phone",
    ["712345678", "07123456789", "+0712345678", "255712345678", "0812345678", "07123 45678", ""],
)
def test_msisdn_refuses_anything_else(phone: str) -> None:
    with pytest.raises(ValueError, match="Kenyan"):
        normalise_msisdn(phone)


@given(st.from_regex(r"7[0-9]{8}", fullmatch=True))
def test_msisdn_forms_agree(subscriber: str) -> None:
    expected = f"254{subscriber}"
    assert {normalise_msisdn(p) for p in (f"0{subscriber}", f"+{expected}", expected)} == {expected}
