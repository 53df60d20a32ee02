"""GET /wallet and GET /wallet/transactions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import QueryParameter

from gamehub.accounts.deps import CurrentIdentity, provide_identity
from gamehub.core.db import DbSession
from gamehub.core.money import to_major
from gamehub.core.params import parse_cursor
from gamehub.core.runtime import RuntimeDep
from gamehub.wallet import schemas
from gamehub.wallet.service import WalletService, balance_of


class WalletController(Controller):
    path = "/wallet"
    tags = ["wallet"]  # noqa: RUF012 - Litestar reads these as class attributes
    dependencies = {"identity": Provide(provide_identity)}  # noqa: RUF012 - Litestar's API

    @get("/", summary="Balance, currency and funds held by pending withdrawals")
    async def wallet(self, identity: CurrentIdentity, runtime: RuntimeDep) -> schemas.WalletOut:
        balance, held = await balance_of(runtime, identity.user_id)
        return schemas.WalletOut(
            balance=to_major(balance), currency=runtime.settings.currency, held=to_major(held)
        )

    @get("/transactions", summary="The wallet's movements, newest first")
    async def transactions(
        self,
        identity: CurrentIdentity,
        db_session: DbSession,
        runtime: RuntimeDep,
        category: Annotated[str | None, QueryParameter()] = None,
        since: Annotated[datetime | None, QueryParameter()] = None,
        until: Annotated[datetime | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=20)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> schemas.WalletTransactionPage:
        before_id = parse_cursor(cursor, "use the next_cursor of the previous page")
        rows = await WalletService(db_session, runtime.settings.currency).movements(
            identity.user_id,
            before_id=before_id,
            category=category,
            since=_aware(since),
            until=_aware(until),
            limit=limit + 1,
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
            )
            for entry, transaction, withdrawal_status in rows[:limit]
        ]
        more = len(rows) > limit
        return schemas.WalletTransactionPage(
            items=items, next_cursor=str(items[-1].id) if more else None
        )


def _aware(moment: datetime | None) -> datetime | None:
    """A date without a zone is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
