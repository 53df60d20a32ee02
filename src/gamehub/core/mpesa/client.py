"""A typed async client for the Daraja endpoints Game Hub uses: OAuth, STK Push and its query,
B2C v3 and Transaction Status.

Every synchronous answer is either a typed "accepted" object, a :class:`DarajaError` (Daraja
answered with its error envelope: the request was refused), or :class:`DarajaUnavailable`
(no usable answer: the request may or may not have been processed). Accepted only means
"queued"; the outcome arrives later in a callback (see ``callbacks.py``) or by querying.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import httpx

from gamehub.core.cache import CACHE_ERRORS, Cache
from gamehub.core.mpesa.credentials import security_credential, stk_credentials

logger = logging.getLogger("gamehub.payments.mpesa")

INVALID_ACCESS_TOKEN = "404.001.03"
# Daraja reuses this code for "Wrong credentials", "Merchant does not exist" and "the
# transaction is being processed"; only the message tells them apart.
STK_PENDING_CODE = "500.001.1001"
SYSTEM_INTERNAL_ERROR = "500.002.1001"
INTERNAL_SERVER_ERROR = "500.003.1001"
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
# Sends of one request when Daraja refuses the token: a refused call was not processed.
TOKEN_TRIES = 3

STK_MIN_KES, B2C_MIN_KES, MAX_KES = 1, 10, 250_000
_MSISDN = re.compile(r"(?:\+?254|0)((?:7\d|1[01])\d{7})")
# Reported to make Daraja fail silently when they appear in text fields.
_UNSAFE_TEXT = re.compile(r"[@#&\x00-\x1f\x7f]")


class DarajaError(Exception):
    """Daraja refused the request with its error envelope; branch on ``error_code``."""

    def __init__(
        self, error_code: str, error_message: str, http_status: int, request_id: str | None = None
    ) -> None:
        super().__init__(f"{error_code} {error_message} (HTTP {http_status})")
        self.error_code = error_code
        self.error_message = error_message
        self.http_status = http_status
        self.request_id = request_id

    @property
    def duplicate_request(self) -> bool:
        """The OriginatorConversationID was used before: that earlier request reached M-Pesa."""
        return (
            self.error_code == SYSTEM_INTERNAL_ERROR and "duplicate" in self.error_message.lower()
        )

    @property
    def outcome_unknown(self) -> bool:
        """An internal error after which the request may still have been processed."""
        internal = self.error_code in (SYSTEM_INTERNAL_ERROR, INTERNAL_SERVER_ERROR)
        return internal and not self.duplicate_request


class DarajaUnavailable(Exception):
    """No usable answer (network error, time-out, or a reply that is not Daraja's).

    The outcome is unknown: reconcile (STK query, Transaction Status) before retrying or
    refunding; never re-send a payment with a new id.
    """


@dataclass(frozen=True, slots=True)
class DarajaConfig:
    base_url: str
    consumer_key: str
    consumer_secret: str
    shortcode: str
    passkey: str
    b2c_shortcode: str
    initiator_name: str
    initiator_password: str
    certificate_path: Path
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class StkPushAccepted:
    merchant_request_id: str
    checkout_request_id: str
    response_description: str
    customer_message: str


@dataclass(frozen=True, slots=True)
class StkQueryResult:
    merchant_request_id: str
    checkout_request_id: str
    result_code: str
    result_desc: str

    @property
    def succeeded(self) -> bool:
        return self.result_code == "0"


@dataclass(frozen=True, slots=True)
class StkPending:
    """The customer has not finished (or M-Pesa has not decided): query again later."""

    checkout_request_id: str


@dataclass(frozen=True, slots=True)
class RequestAccepted:
    """B2C and Transaction Status: queued; the Result arrives at the ResultURL."""

    conversation_id: str
    originator_conversation_id: str
    response_description: str


def normalise_msisdn(phone: str) -> str:
    """``0712345678``, ``+254712345678`` or ``254712345678`` (and ``01…``) to ``2547…``."""
    match = _MSISDN.fullmatch(phone.strip())
    if match is None:
        raise ValueError(f"not a Kenyan mobile number: {phone!r}")
    return f"254{match.group(1)}"


Fetch = Callable[[], Awaitable[tuple[str, float]]]
TokenKey = tuple[str, str]


class TokenStore(Protocol):
    """Where a client keeps its OAuth token: :class:`TokenCache` for one process,
    :class:`SharedTokenCache` for every process and host of a deployment."""

    async def get(self, key: TokenKey, fetch: Fetch) -> str:
        """The current token for ``key`` (base URL, consumer key), fetched if there is none."""
        ...

    async def invalidate(self, key: TokenKey, token: str) -> None:
        """Drop ``token``, which Daraja refused, unless a newer one has replaced it."""
        ...


class _LoopLocks:
    """One asyncio lock per key and event loop: locks belong to one loop, and tests (and
    some hosts) run several."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[TokenKey, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def __call__(self, key: TokenKey) -> asyncio.Lock:
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        return locks.setdefault(key, asyncio.Lock())


def _lifetime(expires_in: float) -> float:
    # Refresh a minute early, or halfway for the short-lived tokens of a test setup.
    return max(expires_in - TOKEN_REFRESH_MARGIN_SECONDS, expires_in / 2)


class TokenCache:
    """OAuth tokens shared by every client of one process.

    Daraja invalidates the previous token whenever a new one is issued, so clients that each
    fetched their own would keep logging each other out; one fetch at a time per credential.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[TokenKey, tuple[str, float]] = {}
        self._locks = _LoopLocks()

    async def get(self, key: TokenKey, fetch: Fetch) -> str:
        cached = self._fresh(key)
        if cached is not None:
            return cached
        async with self._locks(key):
            cached = self._fresh(key)
            if cached is not None:
                return cached
            token, expires_in = await fetch()
            self.remember(key, token, expires_in)
            return token

    def remember(self, key: TokenKey, token: str, expires_in: float) -> None:
        self._tokens[key] = (token, self._clock() + _lifetime(expires_in))

    async def invalidate(self, key: TokenKey, token: str) -> None:
        # Only the token that failed: another task may already have fetched a newer one.
        if key in self._tokens and self._tokens[key][0] == token:
            del self._tokens[key]

    def _fresh(self, key: TokenKey) -> str | None:
        entry = self._tokens.get(key)
        if entry is None or self._clock() >= entry[1]:
            return None
        return entry[0]


_PROCESS_TOKENS = TokenCache()


class SharedTokenCache:
    """OAuth tokens shared through the deployment's cache (Redis) by every process and host.

    Only the holder of a lease fetches; the others wait for the token it stores, so a
    deployment asks Daraja for one token at a time and no worker invalidates another's. A
    holder that dies loses its lease after ``lease_seconds``, and a waiter takes over.
    When the cache fails or hangs, the process's own :class:`TokenCache` stands in: payments
    go on, and workers may invalidate each other's tokens (each call retries) until it is back.
    """

    def __init__(
        self,
        cache: Cache,
        *,
        fallback: TokenCache | None = None,
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.05,
        cache_timeout_seconds: float = 1.0,
    ) -> None:
        self._cache = cache
        self._fallback = fallback if fallback is not None else _PROCESS_TOKENS
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self._cache_timeout = cache_timeout_seconds
        # Tasks of one process queue here, so only one of them polls the cache while waiting.
        self._locks = _LoopLocks()

    @staticmethod
    def token_key(key: TokenKey) -> str:
        # Hashed so that the key is short and the consumer key does not appear in Redis.
        digest = hashlib.sha256("\n".join(key).encode()).hexdigest()
        return f"mpesa:token:{digest}"

    @classmethod
    def lease_key(cls, key: TokenKey) -> str:
        return cls.token_key(key) + ":lease"

    async def get(self, key: TokenKey, fetch: Fetch) -> str:
        try:
            token = await self._shared_token(key)
        except CACHE_ERRORS as exc:
            return await self._without_cache(key, fetch, exc)
        if token is not None:
            return token
        async with self._locks(key):
            return await self._refresh(key, fetch)

    async def invalidate(self, key: TokenKey, token: str) -> None:
        await self._fallback.invalidate(key, token)
        try:
            async with asyncio.timeout(self._cache_timeout):
                # Compare and delete in one step: if another process has already stored a
                # newer token, it stays.
                await self._cache.delete_if_equal(self.token_key(key), token.encode())
        except CACHE_ERRORS as exc:
            logger.warning("M-Pesa token cache unavailable (%s): could not drop a token", exc)

    async def _refresh(self, key: TokenKey, fetch: Fetch) -> str:
        loop = asyncio.get_running_loop()
        # A lease seen now lapses within lease_seconds; twice that leaves time for the
        # waiter's own fetch once it takes over.
        deadline = loop.time() + 2 * self._lease_seconds
        holder = secrets.token_hex(16).encode()
        while True:
            try:
                token = await self._shared_token(key)
                if token is not None:
                    return token
                async with asyncio.timeout(self._cache_timeout):
                    leased = await self._cache.set_if_absent(
                        self.lease_key(key), holder, self._lease_seconds
                    )
            except CACHE_ERRORS as exc:
                return await self._without_cache(key, fetch, exc)
            if leased:
                return await self._fetch_under_lease(key, fetch, holder)
            if loop.time() >= deadline:
                raise DarajaUnavailable("another process is fetching the access token: timed out")
            await asyncio.sleep(self._poll_seconds)

    async def _fetch_under_lease(self, key: TokenKey, fetch: Fetch, holder: bytes) -> str:
        try:
            # The previous holder may have stored its token between our look and our lease.
            # If the cache fails now, we hold the lease: fetching is still ours to do.
            with contextlib.suppress(*CACHE_ERRORS):
                if (stored := await self._shared_token(key)) is not None:
                    return stored
            token, expires_in = await fetch()
            self._fallback.remember(key, token, expires_in)
            try:
                async with asyncio.timeout(self._cache_timeout):
                    await self._cache.set(
                        self.token_key(key), token.encode(), max(1, int(_lifetime(expires_in)))
                    )
            except CACHE_ERRORS as exc:
                logger.warning("M-Pesa token cache unavailable (%s): token kept in process", exc)
            return token
        finally:
            # If this fails, the lease lapses on its own.
            with contextlib.suppress(*CACHE_ERRORS):
                async with asyncio.timeout(self._cache_timeout):
                    await self._cache.delete_if_equal(self.lease_key(key), holder)

    async def _shared_token(self, key: TokenKey) -> str | None:
        async with asyncio.timeout(self._cache_timeout):
            raw = await self._cache.get(self.token_key(key))
        return None if raw is None else raw.decode()

    async def _without_cache(self, key: TokenKey, fetch: Fetch, exc: Exception) -> str:
        logger.warning("M-Pesa token cache unavailable (%s): using the process's token", exc)
        return await self._fallback.get(key, fetch)


class DarajaClient:
    def __init__(
        self,
        config: DarajaConfig,
        http: httpx.AsyncClient | None = None,
        *,
        tokens: TokenStore | None = None,
    ) -> None:
        self._config = config
        self._base_url = config.base_url.rstrip("/")
        timeout = config.timeout_seconds
        # Passed on every request so that a shared AsyncClient's defaults never apply.
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._http = http if http is not None else httpx.AsyncClient(timeout=self._timeout)
        self._owns_http = http is None
        self._tokens = tokens if tokens is not None else _PROCESS_TOKENS
        self._token_key = (self._base_url, config.consumer_key)
        # Encrypted once: the padding is random, but any encryption of the password is valid.
        self._security_credential = security_credential(
            config.initiator_password, config.certificate_path.read_bytes()
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def stk_push(
        self,
        amount_kes: int,
        phone: str,
        account_reference: str,
        description: str,
        callback_url: str,
    ) -> StkPushAccepted:
        _check_amount(amount_kes, STK_MIN_KES)
        msisdn = normalise_msisdn(phone)
        _check_text("account_reference", account_reference, 1, 12)
        _check_text("description", description, 1, 13)
        _check_url("callback_url", callback_url)
        credentials = stk_credentials(self._config.shortcode, self._config.passkey)
        data = await self._post(
            "/mpesa/stkpush/v1/processrequest",
            {
                "BusinessShortCode": self._config.shortcode,
                "Password": credentials.password,
                "Timestamp": credentials.timestamp,
                "TransactionType": "CustomerPayBillOnline",
                "Amount": amount_kes,
                "PartyA": msisdn,
                "PartyB": self._config.shortcode,
                "PhoneNumber": msisdn,
                "CallBackURL": callback_url,
                "AccountReference": account_reference,
                "TransactionDesc": description,
            },
        )
        return StkPushAccepted(
            merchant_request_id=_text(data, "MerchantRequestID"),
            checkout_request_id=_text(data, "CheckoutRequestID"),
            response_description=_text(data, "ResponseDescription", ""),
            customer_message=_text(data, "CustomerMessage", ""),
        )

    async def stk_query(self, checkout_request_id: str) -> StkQueryResult | StkPending:
        credentials = stk_credentials(self._config.shortcode, self._config.passkey)
        try:
            data = await self._post(
                "/mpesa/stkpushquery/v1/query",
                {
                    "BusinessShortCode": self._config.shortcode,
                    "Password": credentials.password,
                    "Timestamp": credentials.timestamp,
                    "CheckoutRequestID": checkout_request_id,
                },
            )
        except DarajaError as exc:
            pending = "being processed" in exc.error_message.lower()
            if exc.error_code == STK_PENDING_CODE and pending:
                return StkPending(checkout_request_id)
            raise
        return StkQueryResult(
            merchant_request_id=_text(data, "MerchantRequestID", ""),
            checkout_request_id=_text(data, "CheckoutRequestID", checkout_request_id),
            result_code=_text(data, "ResultCode"),
            result_desc=_text(data, "ResultDesc", ""),
        )

    async def b2c_payment(
        self,
        originator_conversation_id: str,
        amount_kes: int,
        phone: str,
        remarks: str,
        occasion: str | None,
        result_url: str,
        timeout_url: str,
    ) -> RequestAccepted:
        """Pay out; reuse ``originator_conversation_id`` on any retry (Daraja rejects repeats)."""
        _check_text("originator_conversation_id", originator_conversation_id, 1, 100)
        _check_amount(amount_kes, B2C_MIN_KES)
        msisdn = normalise_msisdn(phone)
        _check_text("remarks", remarks, 2, 100)
        _check_url("result_url", result_url)
        _check_url("timeout_url", timeout_url)
        body: dict[str, Any] = {
            "OriginatorConversationID": originator_conversation_id,
            "InitiatorName": self._config.initiator_name,
            "SecurityCredential": self._security_credential,
            "CommandID": "BusinessPayment",
            "Amount": amount_kes,
            "PartyA": self._config.b2c_shortcode,
            "PartyB": msisdn,
            "Remarks": remarks,
            "QueueTimeOutURL": timeout_url,
            "ResultURL": result_url,
        }
        if occasion is not None:
            _check_text("occasion", occasion, 1, 100)
            # v3 documents the misspelling, v1 and Transaction Status the dictionary word.
            body["Occassion"] = body["Occasion"] = occasion
        return _accepted(await self._post("/mpesa/b2c/v3/paymentrequest", body))

    async def transaction_status(
        self,
        *,
        result_url: str,
        timeout_url: str,
        originator_conversation_id: str | None = None,
        transaction_id: str | None = None,
        party_a: str | None = None,
        remarks: str = "Reconciliation",
        occasion: str | None = None,
    ) -> RequestAccepted:
        """Look a payment up by its receipt, or by our OriginatorConversationID when no receipt
        is known (a timed-out B2C). ``party_a`` defaults to the B2C shortcode."""
        if (originator_conversation_id is None) == (transaction_id is None):
            raise ValueError("give exactly one of originator_conversation_id and transaction_id")
        _check_text("remarks", remarks, 1, 100)
        _check_url("result_url", result_url)
        _check_url("timeout_url", timeout_url)
        body: dict[str, Any] = {
            "Initiator": self._config.initiator_name,
            "SecurityCredential": self._security_credential,
            "CommandID": "TransactionStatusQuery",
            "PartyA": party_a or self._config.b2c_shortcode,
            "IdentifierType": "4",
            "ResultURL": result_url,
            "QueueTimeOutURL": timeout_url,
            "Remarks": remarks,
        }
        if transaction_id is not None:
            body["TransactionID"] = transaction_id
        if originator_conversation_id is not None:
            body["OriginalConversationID"] = originator_conversation_id
        if occasion is not None:
            _check_text("occasion", occasion, 1, 100)
            body["Occasion"] = occasion
        return _accepted(await self._post("/mpesa/transactionstatus/v1/query", body))

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        # A refused token means Daraja processed nothing, so the very same body (a B2C keeps
        # its OriginatorConversationID) may go again with a fresh token.
        tries = 1
        while True:
            token = await self._tokens.get(self._token_key, self._fetch_token)
            try:
                return await self._send(path, body, token)
            except DarajaError as exc:
                if exc.error_code != INVALID_ACCESS_TOKEN or tries == TOKEN_TRIES:
                    raise
            # Someone sharing these credentials (another host, a process without the shared
            # cache, the Daraja portal) fetched a newer token, which invalidated ours.
            await self._tokens.invalidate(self._token_key, token)
            tries += 1

    async def _send(self, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        try:
            response = await self._http.post(
                self._base_url + path,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
        except httpx.RequestError as exc:
            raise DarajaUnavailable(f"{path}: {type(exc).__name__}: {exc}") from exc
        data = _decode(response, path)
        code = data.get("ResponseCode")
        if code is not None and str(code) != "0":
            raise DarajaError(
                str(code), str(data.get("ResponseDescription", "")), response.status_code
            )
        return data

    async def _fetch_token(self) -> tuple[str, float]:
        path = "/oauth/v1/generate"
        try:
            response = await self._http.get(
                self._base_url + path,
                params={"grant_type": "client_credentials"},
                auth=httpx.BasicAuth(self._config.consumer_key, self._config.consumer_secret),
                timeout=self._timeout,
            )
        except httpx.RequestError as exc:
            raise DarajaUnavailable(f"{path}: {type(exc).__name__}: {exc}") from exc
        data = _decode(response, path)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise DarajaUnavailable(f"{path}: no access_token in the reply")
        return token, _expires_in(data.get("expires_in"), path)


def _decode(response: httpx.Response, path: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and "errorCode" in data:
        request_id = data.get("requestId")
        raise DarajaError(
            str(data["errorCode"]),
            str(data.get("errorMessage", "")),
            response.status_code,
            str(request_id) if request_id is not None else None,
        )
    if not response.is_success or not isinstance(data, dict):
        raise DarajaUnavailable(
            f"{path}: HTTP {response.status_code} without a Daraja body: {response.text[:200]!r}"
        )
    return data


def _expires_in(value: object, path: str) -> float:
    # The docs show a number, the live gateway sends the string "3599".
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0.0
        if 0 < seconds < float("inf"):
            return seconds
    raise DarajaUnavailable(f"{path}: unusable expires_in {value!r}")


def _text(data: dict[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    if value is None and default is not None:
        return default
    # The request was accepted but the reply cannot be read: whether it went through is unknown.
    raise DarajaUnavailable(f"accepted reply without a usable {name}: {data!r}")


def _accepted(data: dict[str, Any]) -> RequestAccepted:
    return RequestAccepted(
        conversation_id=_text(data, "ConversationID"),
        originator_conversation_id=_text(data, "OriginatorConversationID"),
        response_description=_text(data, "ResponseDescription", ""),
    )


def _check_amount(amount_kes: int, minimum: int) -> None:
    if isinstance(amount_kes, bool) or not isinstance(amount_kes, int):
        raise ValueError("amount_kes must be a whole number of KES")
    if not minimum <= amount_kes <= MAX_KES:
        raise ValueError(f"amount_kes must be between {minimum} and {MAX_KES}")


def _check_text(name: str, value: str, shortest: int, longest: int) -> None:
    if not shortest <= len(value) <= longest:
        raise ValueError(f"{name} must be {shortest} to {longest} characters")
    if _UNSAFE_TEXT.search(value):
        raise ValueError(f"{name} must not contain @, #, & or control characters")


def _check_url(name: str, value: str) -> None:
    if not value.startswith(("https://", "http://")) or any(c.isspace() for c in value):
        raise ValueError(f"{name} must be an http(s) URL without spaces")
