"""Deposit and withdrawal routes, and the M-Pesa callbacks."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, TypeAlias

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.deps import CurrentIdentity, client_ip, provide_identity
from gamehub.accounts.errors import IDENTITY
from gamehub.core.db import DbSession
from gamehub.core.idempotency import IDEMPOTENCY, IdempotencyDep, idempotency_guard
from gamehub.core.money import amount_field, to_major
from gamehub.core.openapi import PLAYER
from gamehub.core.pagination import (
    NEXT_CURSOR_HEADERS,
    Cursor,
    Limit,
    Since,
    Until,
    page_response,
    window,
)
from gamehub.core.params import INT32_MAX, IdPath
from gamehub.core.ratelimit import RateLimited
from gamehub.core.runtime import Runtime, RuntimeDep
from gamehub.errors import (
    WITH_BODY,
    PayloadTooLarge,
    RouteNotFound,
    ValidationError,
    error_responses,
)
from gamehub.models import Deposit, Withdrawal
from gamehub.payments import schemas
from gamehub.payments.errors import (
    CallbackSourceForbidden,
    DailyWithdrawalLimitReached,
    DepositNotFound,
    InvalidPhone,
    MalformedCallback,
    MpesaUnreachable,
    PaymentRefused,
    PaymentsNotConfigured,
    WholeShillingsOnly,
    WithdrawalNotFound,
    WithdrawalOutOfRange,
)
from gamehub.payments.service.deposits import (
    handle_stk_callback,
    start_deposit,
    users_deposit,
)
from gamehub.payments.service.lists import Payments
from gamehub.payments.service.withdrawals import (
    WITHDRAWAL,
    handle_b2c_callback,
    handle_status_callback,
    start_withdrawal,
    users_withdrawal,
)
from gamehub.protection.errors import GATES, WITHDRAWAL_GATES
from gamehub.wallet.errors import InsufficientFunds

StatusFilter = Annotated[
    str | None, QueryParameter(max_length=20, description="Only payments in this state")
]

ACCEPTED = schemas.CallbackAck(ResultCode=0, ResultDesc="Accepted")


def _amount(data: schemas.PaymentIn | schemas.DepositIn, runtime: Runtime) -> int:
    return amount_field(data.amount, "amount", maximum_minor=runtime.settings.max_amount_minor)


def deposit_out(deposit: Deposit) -> schemas.DepositOut:
    return schemas.DepositOut(
        deposit_id=deposit.id,
        status=deposit.status,
        amount=to_major(deposit.amount),
        currency=deposit.currency,
        phone=deposit.phone,
        checkout_request_id=deposit.checkout_request_id,
        mpesa_receipt=deposit.mpesa_receipt,
        result_code=deposit.result_code,
        result_desc=deposit.result_desc,
        created_at=deposit.created_at,
        settled_at=deposit.settled_at,
        tax=to_major(deposit.tax),
    )


def withdrawal_out(withdrawal: Withdrawal, new_balance: int | None = None) -> schemas.WithdrawalOut:
    return schemas.WithdrawalOut(
        withdrawal_id=withdrawal.id,
        status=withdrawal.status,
        amount=to_major(withdrawal.amount),
        currency=withdrawal.currency,
        phone=withdrawal.phone,
        mpesa_receipt=withdrawal.mpesa_receipt,
        result_code=withdrawal.result_code,
        result_desc=withdrawal.result_desc,
        created_at=withdrawal.created_at,
        settled_at=withdrawal.completed_at,
        tax=to_major(withdrawal.tax),
        new_balance=None if new_balance is None else to_major(new_balance),
    )


async def current_payment(
    session: AsyncSession, user_id: int, kind: str, resource_id: int
) -> schemas.DepositOut | schemas.WithdrawalOut:
    """What a repeat of a payment request whose first one stored no response is told:
    the payment as it stands now."""
    # A key names one request, its route included: a deposit's key is never replayed on
    # /withdraw, so the kind recorded is the route's.
    if kind == WITHDRAWAL:
        return withdrawal_out(await users_withdrawal(session, user_id, resource_id))
    return deposit_out(await users_deposit(session, user_id, resource_id))


class PaymentsController(Controller):
    tags = ["payments"]  # noqa: RUF012 - Litestar reads these as class attributes
    security = PLAYER
    dependencies = {  # noqa: RUF012 - Litestar's API
        "identity": Provide(provide_identity),
        "idempotency": idempotency_guard(current_payment),
    }

    @post(
        "/deposit",
        status_code=HTTP_202_ACCEPTED,
        summary="Deposit by M-Pesa STK push; honours Idempotency-Key",
        responses=error_responses(
            *IDENTITY,
            *WITH_BODY,
            *IDEMPOTENCY,
            PaymentsNotConfigured,
            WholeShillingsOnly,
            InvalidPhone,
            PaymentRefused,
            MpesaUnreachable,
            DepositNotFound,
            *GATES,
            RateLimited,
        ),
    )
    async def deposit(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.DepositIn],
        db_session: DbSession,
        runtime: RuntimeDep,
        idempotency: IdempotencyDep,
    ) -> schemas.DepositOut:
        amount = _amount(data, runtime)
        await runtime.rate_limits.hit("deposit_user", identity.user_id)
        deposit = await start_deposit(db_session, runtime, identity.user_id, amount, data.phone)
        return await idempotency.keep(deposit_out(deposit))

    @get(
        "/deposits",
        summary="The caller's deposits, newest first, pending and failed ones included",
        response_headers=NEXT_CURSOR_HEADERS,
        responses=error_responses(*IDENTITY, ValidationError),
    )
    async def list_deposits(
        self,
        identity: CurrentIdentity,
        db_session: DbSession,
        status: StatusFilter = None,
        since: Since = None,
        until: Until = None,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> Response[schemas.DepositPage]:
        page = window(limit, cursor, since, until, cursor_max=INT32_MAX)
        rows, cursor_out = await Payments(db_session).listed(
            Deposit, identity.user_id, page, status
        )
        return page_response(
            schemas.DepositPage([deposit_out(d) for d in rows], cursor_out), cursor_out
        )

    @get(
        "/deposits/{deposit_id:int}",
        summary="One of the caller's deposits",
        responses=error_responses(*IDENTITY, ValidationError, DepositNotFound),
    )
    async def get_deposit(
        self, deposit_id: IdPath, identity: CurrentIdentity, db_session: DbSession
    ) -> schemas.DepositOut:
        return deposit_out(await users_deposit(db_session, identity.user_id, deposit_id))

    @post(
        "/withdraw",
        status_code=HTTP_202_ACCEPTED,
        summary="Withdraw by M-Pesa B2C; honours Idempotency-Key",
        responses=error_responses(
            *IDENTITY,
            *WITH_BODY,
            *IDEMPOTENCY,
            PaymentsNotConfigured,
            WholeShillingsOnly,
            InvalidPhone,
            WithdrawalOutOfRange,
            DailyWithdrawalLimitReached,
            InsufficientFunds,
            *WITHDRAWAL_GATES,
            WithdrawalNotFound,
            RateLimited,
        ),
    )
    async def withdraw(
        self,
        identity: CurrentIdentity,
        data: JSONBody[schemas.PaymentIn],
        db_session: DbSession,
        runtime: RuntimeDep,
        idempotency: IdempotencyDep,
    ) -> schemas.WithdrawalOut:
        amount = _amount(data, runtime)
        await runtime.rate_limits.hit("withdraw_user", identity.user_id)
        withdrawal, balance = await start_withdrawal(
            db_session, runtime, identity.user_id, amount, data.phone
        )
        return await idempotency.keep(withdrawal_out(withdrawal, balance))

    @get(
        "/withdrawals",
        summary="The caller's withdrawals, newest first, pending and failed ones included",
        response_headers=NEXT_CURSOR_HEADERS,
        responses=error_responses(*IDENTITY, ValidationError),
    )
    async def list_withdrawals(
        self,
        identity: CurrentIdentity,
        db_session: DbSession,
        status: StatusFilter = None,
        since: Since = None,
        until: Until = None,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> Response[schemas.WithdrawalPage]:
        page = window(limit, cursor, since, until, cursor_max=INT32_MAX)
        rows, cursor_out = await Payments(db_session).listed(
            Withdrawal, identity.user_id, page, status
        )
        return page_response(
            schemas.WithdrawalPage([withdrawal_out(w) for w in rows], cursor_out), cursor_out
        )

    @get(
        "/withdrawals/{withdrawal_id:int}",
        summary="One of the caller's withdrawals",
        responses=error_responses(*IDENTITY, ValidationError, WithdrawalNotFound),
    )
    async def get_withdrawal(
        self, withdrawal_id: IdPath, identity: CurrentIdentity, db_session: DbSession
    ) -> schemas.WithdrawalOut:
        return withdrawal_out(await users_withdrawal(db_session, identity.user_id, withdrawal_id))


Connection = ASGIConnection[Any, Any, Any, Any]


def mpesa_callback_guard(connection: Connection, _: BaseRouteHandler) -> None:
    """Every callback route: the secret path segment (checked in constant time), then the
    optional address list. Unconfigured M-Pesa, or a wrong secret, looks like no route."""
    runtime: Runtime = connection.app.state.runtime
    settings = runtime.settings
    secret = str(connection.path_params.get("secret", ""))
    if runtime.mpesa is None or not hmac.compare_digest(
        secret.encode(), settings.callback_secret.encode()
    ):
        # The same answer as a route that does not exist: a prober learns nothing.
        raise RouteNotFound()
    allowed = settings.mpesa_callback_allowed_ips
    if allowed and callback_source(connection, runtime) not in allowed:
        raise CallbackSourceForbidden()


def callback_source(request: Connection, runtime: RuntimeDep) -> str:
    """The caller's address, as the guard judged it: kept with the callback."""
    return client_ip(request, runtime.settings.trusted_proxies)


# The address the callback came from, injected by name.
CallbackSource: TypeAlias = NamedDependency[str]


class MpesaCallbackController(Controller):
    """Daraja posts here. The secret path segment and the per-payment (or per-question)
    token only let a body in as evidence; money moves once M-Pesa confirms it. Each
    callback is one unit of work, the request's, like any other route."""

    path = "/payments/mpesa"
    tags = ["payments"]  # noqa: RUF012 - Litestar reads these as class attributes
    include_in_schema = False
    guards = [mpesa_callback_guard]  # noqa: RUF012 - Litestar's API
    dependencies = {"source": Provide(callback_source, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/stk/{secret:str}/{token:str}",
        status_code=HTTP_200_OK,
        responses=error_responses(
            RouteNotFound, CallbackSourceForbidden, MalformedCallback, PayloadTooLarge
        ),
    )
    async def stk(
        self,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        source: CallbackSource,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.CallbackAck:
        await handle_stk_callback(db_session, runtime, await request.body(), source, token)
        return ACCEPTED

    @post(
        "/b2c/{secret:str}/result/{token:str}",
        status_code=HTTP_200_OK,
        responses=error_responses(
            RouteNotFound, CallbackSourceForbidden, MalformedCallback, PayloadTooLarge
        ),
    )
    async def b2c_result(
        self,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        source: CallbackSource,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.CallbackAck:
        body = await request.body()
        await handle_b2c_callback(db_session, runtime, body, source, token, timed_out=False)
        return ACCEPTED

    @post(
        "/b2c/{secret:str}/timeout/{token:str}",
        status_code=HTTP_200_OK,
        responses=error_responses(
            RouteNotFound, CallbackSourceForbidden, MalformedCallback, PayloadTooLarge
        ),
    )
    async def b2c_timeout(
        self,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        source: CallbackSource,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.CallbackAck:
        body = await request.body()
        await handle_b2c_callback(db_session, runtime, body, source, token, timed_out=True)
        return ACCEPTED

    @post(
        "/status/{secret:str}/result/{withdrawal_id:int}/{token:str}",
        status_code=HTTP_200_OK,
        responses=error_responses(
            ValidationError,
            RouteNotFound,
            CallbackSourceForbidden,
            MalformedCallback,
            PayloadTooLarge,
        ),
    )
    async def status_result(
        self,
        request: Request[Any, Any, Any],
        withdrawal_id: IdPath,
        token: FromPath[str],
        source: CallbackSource,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> schemas.CallbackAck:
        body = await request.body()
        await handle_status_callback(db_session, runtime, withdrawal_id, token, body, source)
        return ACCEPTED

    @post(
        "/status/{secret:str}/timeout/{withdrawal_id:int}/{token:str}",
        status_code=HTTP_200_OK,
        responses=error_responses(
            ValidationError,
            RouteNotFound,
            CallbackSourceForbidden,
            MalformedCallback,
            PayloadTooLarge,
        ),
    )
    async def status_timeout(self, withdrawal_id: IdPath) -> schemas.CallbackAck:
        # The question expired in M-Pesa's queue; the reconciler asks again later. The id
        # is declared for its bounds, refused out of range as on the result route.
        return ACCEPTED
