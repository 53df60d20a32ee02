"""The simulator's state and behaviour: tokens, pending pushes, payments Transaction Status
can find, and the callbacks it owes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import math
import secrets
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import msgspec
from litestar import Litestar, Request, Response

from gamehub.core.mpesa.credentials import (
    MalformedCredentialError,
    decrypt_security_credential,
    ensure_simulator_keypair,
    load_private_key,
    stk_password,
)
from gamehub.payments.mpesa.simulator import wire
from gamehub.payments.mpesa.simulator.scenarios import (
    B2C_SCENARIOS,
    NOT_FOUND_CODE,
    PROMPT_TOO_LONG,
    STK_SCENARIOS,
    SUCCESS,
    SUCCESS_DESC,
    TIMEOUT_DESC,
    WRONG_INITIATOR,
    WRONG_INITIATOR_SCENARIO,
    Delivery,
    Scenario,
    SimulatorConfig,
)

B2C_COMMANDS = frozenset({"BusinessPayment", "SalaryPayment", "PromotionPayment"})
STK_TYPES = frozenset({"CustomerPayBillOnline", "CustomerBuyGoodsOnline"})
LOG_SIZE = 500


@dataclass(slots=True)
class _Transaction:
    """What Transaction Status can find, and what it reports."""

    receipt: str
    completed: bool
    amount: int
    originator_conversation_id: str
    conversation_id: str
    reason: str
    reason_type: str
    debit_party: str
    credit_party: str
    debit_account_type: str
    initiated: datetime
    finalised: datetime


@dataclass(slots=True)
class _StkPush:
    merchant_request_id: str
    checkout_request_id: str
    scenario: Scenario
    decide_at: float
    decided: bool = False

    def is_decided(self, now: float) -> bool:
        return self.decided or now >= self.decide_at


@dataclass(slots=True)
class _Callback:
    id: int
    kind: str
    url: str
    payload: dict[str, Any]
    due: float
    state: str = "scheduled"
    status_code: int | None = None
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "url": self.url,
            "state": self.state,
            "status_code": self.status_code,
            "error": self.error,
            "payload": self.payload,
        }


class SimulatorClock:
    """The system's monotonic clock, which ``POST /simulator/advance`` moves ahead: a test
    skips the customer's delay or a late callback's instead of waiting through it."""

    def __init__(self) -> None:
        self._ahead = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self._ahead

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._ahead += seconds


class Simulator:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.clock = SimulatorClock()
        key_path, self.certificate_path = ensure_simulator_keypair(config.keys_dir)
        self._private_key = load_private_key(key_path.read_bytes())
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._stk: dict[str, _StkPush] = {}
        self._b2c_ids: set[str] = set()
        self._by_receipt: dict[str, _Transaction] = {}
        self._by_conversation: dict[str, _Transaction] = {}
        # Bounded so that a long-running simulator does not grow without limit; a callback
        # that falls off the list is still delivered by its own timer.
        self._callbacks: deque[_Callback] = deque(maxlen=LOG_SIZE)
        self._callback_ids = itertools.count(1)
        self._requests: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._utility_funds_cents = 10_000_000_00

    @asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
            self._http = http
            try:
                yield
            finally:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- request plumbing ---------------------------------------------------------------

    async def handle(
        self, request: Request[Any, Any, Any], operation: Callable[[dict[str, Any]], Any]
    ) -> Response[Any]:
        raw = await request.body()
        body: dict[str, Any] = {}
        # Daraja answers a non-JSON body as if its first field were missing.
        if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
            try:
                decoded = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                decoded = None
            body = decoded if isinstance(decoded, dict) else {}
        try:
            self._authorise(request.headers.get("authorization"))
            status, payload = 200, operation(body)
        except wire.GatewayError as exc:
            status, payload = exc.status, exc.envelope()
        self._log(request, body, status)
        return Response(payload, status_code=status)

    def oauth(self, request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            payload = self._issue_token(
                request.query_params.get("grant_type"), request.headers.get("authorization")
            )
            status = 200
        except wire.GatewayError as exc:
            status, payload = exc.status, exc.envelope()
        self._log(request, None, status)
        return Response(payload, status_code=status)

    def _log(self, request: Request[Any, Any, Any], body: object, status: int) -> None:
        self._requests.append(
            {"method": request.method, "path": request.url.path, "status": status, "body": body}
        )

    def _issue_token(self, grant_type: str | None, authorization: str | None) -> dict[str, str]:
        if grant_type != "client_credentials":
            raise wire.GatewayError(400, "400.008.02", "Invalid grant type passed")
        scheme, _, encoded = (authorization or "").partition(" ")
        try:
            supplied = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            supplied = ""
        expected = f"{self.config.consumer_key}:{self.config.consumer_secret}"
        if scheme.lower() != "basic" or not secrets.compare_digest(supplied, expected):
            raise wire.GatewayError(400, "400.008.01", "Invalid authentication type passed")
        # One live token per app: issuing a new one invalidates the previous one.
        self._token = secrets.token_urlsafe(21)
        self._token_expires_at = self.clock.monotonic() + self.config.token_ttl_seconds
        return {"access_token": self._token, "expires_in": str(self.config.token_ttl_seconds - 1)}

    def expire_token(self) -> None:
        self._token_expires_at = 0.0

    def _authorise(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise wire.GatewayError(404, "404.001.04", "Invalid Authentication passed")
        valid = self._token is not None and self.clock.monotonic() < self._token_expires_at
        if not valid or not secrets.compare_digest(token, self._token or ""):
            raise wire.GatewayError(404, "404.001.03", "Invalid Access Token")

    # -- STK Push -----------------------------------------------------------------------

    def stk_push(self, body: dict[str, Any]) -> dict[str, str]:
        shortcode = wire.digits(body, "BusinessShortCode")
        password = wire.text(body, "Password", 1, 1024)
        timestamp = wire.timestamp(body)
        if body.get("TransactionType") not in STK_TYPES:
            raise wire.invalid("TransactionType")
        amount = wire.amount(body, 1)
        wire.msisdn(body, "PartyA")
        wire.digits(body, "PartyB")
        phone = wire.msisdn(body, "PhoneNumber")
        callback_url = wire.url(body, "CallBackURL")
        reference = wire.text(body, "AccountReference", 1, 100)
        if body.get("TransactionDesc") is not None:
            wire.text(body, "TransactionDesc", 0, 13)
        self._check_stk_password(shortcode, password, timestamp)

        scenario = STK_SCENARIOS.get(amount % 100, SUCCESS)
        if len(reference) > 12:
            scenario = PROMPT_TOO_LONG
        now = wire.now_eat()
        push = _StkPush(
            merchant_request_id=str(uuid.uuid4()),
            checkout_request_id=wire.checkout_request_id(now),
            scenario=scenario,
            decide_at=self.clock.monotonic()
            + (
                self.config.late_callback_delay_seconds
                if scenario.slow_customer
                else self.config.callback_delay_seconds
            ),
        )
        self._stk[push.checkout_request_id] = push
        callback: dict[str, Any] = {
            "MerchantRequestID": push.merchant_request_id,
            "CheckoutRequestID": push.checkout_request_id,
            "ResultCode": scenario.result_code,
            "ResultDesc": scenario.result_desc,
        }
        if scenario.succeeded:
            receipt = self._new_receipt(now)
            self._by_receipt[receipt] = _Transaction(
                receipt=receipt,
                completed=True,
                amount=amount,
                originator_conversation_id=push.merchant_request_id,
                conversation_id=push.checkout_request_id,
                reason=SUCCESS_DESC,
                reason_type="Pay Bill Online",
                debit_party=f"{phone} - SIMULATED CUSTOMER",
                credit_party=f"{shortcode} - GAME HUB",
                debit_account_type="MMF Account For Customer",
                initiated=now,
                finalised=now,
            )
            callback["CallbackMetadata"] = {
                "Item": [
                    # Daraja writes the amount with decimals (1.00): a JSON float on the wire.
                    {"Name": "Amount", "Value": float(amount)},
                    {"Name": "MpesaReceiptNumber", "Value": receipt},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": wire.compact(now)},
                    {"Name": "PhoneNumber", "Value": int(phone)},
                ]
            }
        self._schedule("stk", callback_url, {"Body": {"stkCallback": callback}}, scenario.delivery)
        return {
            "MerchantRequestID": push.merchant_request_id,
            "CheckoutRequestID": push.checkout_request_id,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        }

    def stk_query(self, body: dict[str, Any]) -> dict[str, str]:
        shortcode = wire.digits(body, "BusinessShortCode")
        password = wire.text(body, "Password", 1, 1024)
        timestamp = wire.timestamp(body)
        checkout_request_id = wire.text(body, "CheckoutRequestID", 1, 100)
        self._check_stk_password(shortcode, password, timestamp)
        push = self._stk.get(checkout_request_id)
        if push is None:
            raise wire.invalid("CheckoutRequestID")
        if not push.is_decided(self.clock.monotonic()):
            raise wire.GatewayError(
                500, "500.001.1001", "The transaction is being processed", checkout_request_id
            )
        return {
            "ResponseCode": "0",
            "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": push.merchant_request_id,
            "CheckoutRequestID": push.checkout_request_id,
            "ResultCode": str(push.scenario.result_code),
            "ResultDesc": push.scenario.result_desc,
        }

    def _check_stk_password(self, shortcode: str, password: str, timestamp: str) -> None:
        if shortcode != self.config.shortcode:
            raise wire.GatewayError(500, "500.001.1001", "Merchant does not exist")
        expected = stk_password(shortcode, self.config.passkey, timestamp)
        if not secrets.compare_digest(password.encode(), expected.encode()):
            raise wire.GatewayError(500, "500.001.1001", "Wrong credentials")

    # -- B2C ----------------------------------------------------------------------------

    def b2c_payment(self, body: dict[str, Any]) -> dict[str, str]:
        originator = wire.text(body, "OriginatorConversationID", 1, 128)
        initiator = wire.text(body, "InitiatorName", 1, 100)
        credential = wire.text(body, "SecurityCredential", 1, 4096)
        if body.get("CommandID") not in B2C_COMMANDS:
            raise wire.invalid("CommandID")
        amount = wire.amount(body, 10)
        party_a = wire.digits(body, "PartyA")
        phone = wire.msisdn(body, "PartyB")
        wire.text(body, "Remarks", 2, 100)
        timeout_url = wire.url(body, "QueueTimeOutURL")
        result_url = wire.url(body, "ResultURL")
        for spelling in ("Occassion", "Occasion"):
            if body.get(spelling) is not None:
                wire.text(body, spelling, 1, 100)
        authentic = self._initiator_matches(initiator, credential)
        if party_a != self.config.b2c_shortcode:
            raise wire.GatewayError(500, "500.001.1001", "Merchant does not exist")
        if originator in self._b2c_ids:
            raise wire.GatewayError(500, "500.002.1001", "Duplicate OriginatorConversationID.")
        self._b2c_ids.add(originator)

        scenario = WRONG_INITIATOR_SCENARIO
        if authentic:
            scenario = B2C_SCENARIOS.get(amount % 100, SUCCESS)
        now = wire.now_eat()
        conversation_id = wire.conversation_id(now)
        if scenario.succeeded:
            receipt = self._new_receipt(now)
        else:
            receipt = wire.receipt(now, placeholder=True)
        transaction = _Transaction(
            receipt=receipt,
            completed=scenario.succeeded,
            amount=amount,
            originator_conversation_id=originator,
            conversation_id=conversation_id,
            reason=scenario.result_desc,
            reason_type="Business Payment to Customer via API",
            debit_party=f"{party_a} - GAME HUB",
            credit_party=f"{phone} - SIMULATED CUSTOMER",
            debit_account_type="Utility Account",
            initiated=now,
            finalised=now,
        )
        for key in (originator, conversation_id):
            self._by_conversation[key] = transaction
        if scenario.succeeded:
            self._by_receipt[receipt] = transaction
            self._utility_funds_cents -= amount * 100

        result: dict[str, Any] = {
            "ResultType": 0,
            "ResultCode": scenario.result_code,
            "ResultDesc": scenario.result_desc,
            "OriginatorConversationID": originator,
            "ConversationID": conversation_id,
            "TransactionID": receipt,
        }
        if scenario.queue_timeout:
            timed_out = {**result, "ResultCode": 1, "ResultDesc": TIMEOUT_DESC}
            del timed_out["TransactionID"]
            self._schedule("b2c-timeout", timeout_url, {"Result": timed_out}, scenario.delivery)
        else:
            if scenario.succeeded:
                result["ResultParameters"] = {"ResultParameter": self._b2c_parameters(transaction)}
            # A one-element list that Daraja's XML-to-JSON step sends as a bare object.
            result["ReferenceData"] = {
                "ReferenceItem": {"Key": "QueueTimeoutURL", "Value": timeout_url}
            }
            self._schedule("b2c-result", result_url, {"Result": result}, scenario.delivery)
        return {
            "ConversationID": conversation_id,
            "OriginatorConversationID": originator,
            "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully.",
        }

    def _b2c_parameters(self, transaction: _Transaction) -> list[dict[str, Any]]:
        return [
            {"Key": "TransactionAmount", "Value": transaction.amount},
            {"Key": "TransactionReceipt", "Value": transaction.receipt},
            {"Key": "ReceiverPartyPublicName", "Value": transaction.credit_party},
            {
                "Key": "TransactionCompletedDateTime",
                "Value": f"{transaction.finalised:%d.%m.%Y %H:%M:%S}",
            },
            {"Key": "B2CUtilityAccountAvailableFunds", "Value": self._utility_funds_cents / 100},
            {"Key": "B2CWorkingAccountAvailableFunds", "Value": 0.0},
            {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": 0.0},
            {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
        ]

    def _initiator_matches(self, initiator: str, credential: str) -> bool:
        try:
            password = decrypt_security_credential(credential, self._private_key)
        except MalformedCredentialError as exc:
            raise wire.invalid("SecurityCredential") from exc
        except ValueError:
            return False
        expected = f"{self.config.initiator_name}\0{self.config.initiator_password}"
        return secrets.compare_digest(f"{initiator}\0{password}".encode(), expected.encode())

    # -- Transaction Status -------------------------------------------------------------

    def transaction_status(self, body: dict[str, Any]) -> dict[str, str]:
        initiator = wire.text(body, "Initiator", 1, 100)
        credential = wire.text(body, "SecurityCredential", 1, 4096)
        if body.get("CommandID") != "TransactionStatusQuery":
            raise wire.invalid("CommandID")
        receipt = wire.optional_text(body, "TransactionID")
        original = wire.optional_text(body, "OriginalConversationID")
        if receipt is None and original is None:
            raise wire.invalid("TransactionID")
        wire.digits(body, "PartyA")
        if str(body.get("IdentifierType")) not in ("1", "2", "4"):
            raise wire.invalid("IdentifierType")
        result_url = wire.url(body, "ResultURL")
        wire.url(body, "QueueTimeOutURL")
        wire.text(body, "Remarks", 1, 100)
        occasion = wire.optional_text(body, "Occasion")
        authentic = self._initiator_matches(initiator, credential)

        now = wire.now_eat()
        reply = {
            "ConversationID": wire.conversation_id(now),
            "OriginatorConversationID": wire.request_id(),
            "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully.",
        }
        result: dict[str, Any] = {
            "ResultType": 0,
            "OriginatorConversationID": reply["OriginatorConversationID"],
            "ConversationID": reply["ConversationID"],
            "TransactionID": wire.receipt(now, placeholder=True),
            "ReferenceData": {"ReferenceItem": {"Key": "Occasion", "Value": occasion or ""}},
        }
        found = self._by_receipt.get(receipt or "") or self._by_conversation.get(original or "")
        if not authentic:
            result.update(ResultCode=2001, ResultDesc=WRONG_INITIATOR)
        elif found is None:
            result.update(ResultCode=NOT_FOUND_CODE, ResultDesc="No such transaction.")
        else:
            result.update(
                ResultCode=0,
                ResultDesc="The service request has been accepted successfully.",
                ResultParameters={"ResultParameter": _status_parameters(found)},
            )
        self._schedule("status-result", result_url, {"Result": result}, Delivery.ONCE)
        return reply

    # -- callbacks ----------------------------------------------------------------------

    def _schedule(self, kind: str, url: str, payload: dict[str, Any], delivery: Delivery) -> None:
        if delivery is Delivery.NEVER:
            return
        delay = self.config.callback_delay_seconds
        if delivery is Delivery.LATE:
            delay = self.config.late_callback_delay_seconds
        for _ in range(2 if delivery is Delivery.TWICE else 1):
            due = self.clock.monotonic() + delay
            callback = _Callback(next(self._callback_ids), kind, url, payload, due)
            self._callbacks.append(callback)
            task = asyncio.get_running_loop().create_task(self._deliver_at(callback))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver_at(self, callback: _Callback) -> None:
        # Should the clock be moved ahead meanwhile, advance() delivers it sooner.
        await asyncio.sleep(max(0.0, callback.due - self.clock.monotonic()))
        await self._deliver(callback)

    async def _deliver(self, callback: _Callback) -> bool:
        if callback.state != "scheduled":
            await callback.done.wait()
            return False
        callback.state = "sending"
        assert self._http is not None, "callbacks are scheduled only while the app runs"
        try:
            response = await self._http.post(callback.url, json=callback.payload)
        except httpx.HTTPError as exc:
            # Daraja does not retry a failed delivery, and neither does the simulator.
            callback.state, callback.error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            callback.state, callback.status_code = "delivered", response.status_code
        callback.done.set()
        return True

    async def flush(self) -> int:
        for push in self._stk.values():
            push.decided = True
        return await self._deliver_due(math.inf)

    async def advance(self, seconds: float) -> int:
        """Move the clock ahead, then deliver every callback that is due by it, in due order;
        returns once they are delivered, like :meth:`flush`."""
        self.clock.advance(seconds)
        return await self._deliver_due(self.clock.monotonic())

    async def _deliver_due(self, by: float) -> int:
        """Deliver, in due order, every callback still scheduled and due ``by`` then."""
        delivered = 0
        for callback in sorted(self._callbacks, key=lambda item: (item.due, item.id)):
            if callback.due <= by:
                delivered += await self._deliver(callback)
        return delivered

    def requests(self) -> list[dict[str, Any]]:
        return list(self._requests)

    def callbacks(self) -> list[dict[str, Any]]:
        return [callback.describe() for callback in self._callbacks]

    def _new_receipt(self, now: datetime) -> str:
        # Every real receipt is registered in _by_receipt by the caller, before the next one.
        while (receipt := wire.receipt(now)) in self._by_receipt:
            pass
        return receipt


def _status_parameters(transaction: _Transaction) -> list[dict[str, Any]]:
    # Older payloads spell some keys with spaces; the simulator keeps parsers honest.
    return [
        {"Key": "DebitPartyName", "Value": transaction.debit_party},
        {"Key": "CreditPartyName", "Value": transaction.credit_party},
        {"Key": "Originator Conversation ID", "Value": transaction.originator_conversation_id},
        {"Key": "InitiatedTime", "Value": wire.compact(transaction.initiated)},
        {"Key": "DebitAccountType", "Value": transaction.debit_account_type},
        {"Key": "DebitPartyCharges", "Value": ""},
        {"Key": "TransactionReason", "Value": transaction.reason},
        {"Key": "ReasonType", "Value": transaction.reason_type},
        {"Key": "TransactionStatus", "Value": "Completed" if transaction.completed else "Failed"},
        {"Key": "FinalisedTime", "Value": wire.compact(transaction.finalised)},
        {"Key": "Amount", "Value": transaction.amount},
        {"Key": "Conversation ID", "Value": transaction.conversation_id},
        {"Key": "ReceiptNo", "Value": transaction.receipt},
    ]
