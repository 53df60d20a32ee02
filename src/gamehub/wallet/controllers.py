"""GET /wallet and GET /wallet/transactions."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import QueryParameter

from gamehub.accounts.deps import CurrentIdentity, provide_identity, read_as_caller
from gamehub.accounts.errors import IDENTITY
from gamehub.core.db import DbSession
from gamehub.core.money import to_major
from gamehub.core.openapi import PLAYER
from gamehub.core.pagination import (
    NEXT_CURSOR_HEADERS,
    Cursor,
    Limit,
    Since,
    Until,
    next_cursor,
    page_response,
    window,
)
from gamehub.core.runtime import RuntimeDep
from gamehub.errors import ValidationError, error_responses
from gamehub.wallet import schemas
from gamehub.wallet.service import (
    WalletMissing,
    WalletService,
    caller_wallet_row,
    wallet_balances,
)


class WalletController(Controller):
    path = "/wallet"
    tags = ["wallet"]  # noqa: RUF012 - Litestar reads these as class attributes
    dependencies = {"identity": Provide(provide_identity)}  # noqa: RUF012 - Litestar's API
    security = PLAYER

    @get(
        "/",
        summary="Balance, currency and funds held by pending withdrawals",
        operation_id="get_wallet",
        responses=error_responses(*IDENTITY),
    )
    async def wallet(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep
    ) -> schemas.WalletOut:
        currency = runtime.settings.currency
        row = await read_as_caller(
            request,
            runtime,
            partial(caller_wallet_row, runtime),
            lambda: WalletMissing(currency),
        )
        balance, held = wallet_balances(row)
        return schemas.WalletOut(balance=to_major(balance), currency=currency, held=to_major(held))

    @get(
        "/transactions",
        summary="The wallet's movements, newest first",
        operation_id="list_transactions",
        response_headers=NEXT_CURSOR_HEADERS,
        responses=error_responses(*IDENTITY, ValidationError),
    )
    async def transactions(
        self,
        identity: CurrentIdentity,
        db_session: DbSession,
        runtime: RuntimeDep,
        category: Annotated[str | None, QueryParameter(max_length=40)] = None,
        since: Since = None,
        until: Until = None,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> Response[schemas.WalletTransactionPage]:
        page = window(limit, cursor, since, until)
        # A list to look at, not a balance to act on: the read replica may serve it.
        rows = await runtime.replica.read(
            db_session,
            identity.user_id,
            lambda session: WalletService(session, runtime.settings.currency).movements(
                identity.user_id,
                before_id=page.after,
                category=category,
                since=page.since,
                until=page.until,
                limit=limit + 1,
            ),
        )
        items = [
            schemas.WalletTransactionOut(
                id=entry.id,
                category=transaction.category,
                amount=to_major(entry.amount),
                balance_after=to_major(entry.balance_after or 0),
                status=withdrawal_status or "completed",
                reference=transaction.reference,
                description=transaction.description,
                created_at=entry.created_at,
                tax=to_major(tax),
            )
            for entry, transaction, withdrawal_status, tax in rows[:limit]
        ]
        cursor_out = next_cursor(len(rows), limit, items[-1].id if items else None)
        return page_response(schemas.WalletTransactionPage(items, cursor_out), cursor_out)
