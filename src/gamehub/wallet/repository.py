"""SQL of the wallet views: held funds and the wallet's ledger lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Row,
    String,
    bindparam,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from gamehub.core.db import Database, OneRowSelect, ReadStatement
from gamehub.models import Account, LedgerEntry, LedgerTransaction, User, Withdrawal
from gamehub.models.payments import FUNDS_HELD_WITHDRAWAL_STATUSES
from gamehub.models.user import credential_columns
from gamehub.wallet.ledger import wallet_code
from gamehub.wallet.taxes import TAX_ACCOUNT_KINDS


def _balance_and_held_statement() -> OneRowSelect:
    user_id = bindparam("p_user_id", type_=Integer)
    held = (
        select(func.coalesce(func.sum(Withdrawal.amount), 0))
        # Equalities rather than IN: an expanding IN is rendered anew on every execution.
        .where(
            Withdrawal.user_id == user_id,
            or_(*(Withdrawal.status == s for s in sorted(FUNDS_HELD_WITHDRAWAL_STATUSES))),
        )
        .scalar_subquery()
    )
    return (
        select(Account.balance, held.label("held"), *credential_columns())
        .join(User, User.id == Account.user_id)
        .where(Account.code == bindparam("p_wallet_code", type_=String))
    )


# Built once: building and keying it per request cost more CPU than running it.
_BALANCE_AND_HELD = ReadStatement(_balance_and_held_statement())


async def balance_and_held(
    database: Database, user_id: int, currency: str, family_id: str = ""
) -> Mapping[str, Any] | None:
    """GET /wallet in one statement, outside any transaction: the wallet's ``balance``,
    what withdrawals hold (``held``), and the state an access token of session
    ``family_id`` is checked against (:func:`gamehub.models.user.credential_columns`)."""
    return await _BALANCE_AND_HELD.one(
        database,
        {
            "p_user_id": user_id,
            "p_wallet_code": wallet_code(user_id, currency),
            "p_family_id": family_id,
        },
    )


class WalletRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lines(
        self,
        account_id: int,
        *,
        before_id: int | None,
        category: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> Sequence[Row[LedgerEntry, LedgerTransaction, str, int]]:
        """Newest first, with the status of the withdrawal a hold belongs to (None, for
        all the lines that are no withdrawal's hold, by the outer join) and the taxes
        the line's transaction posted (negative: given back)."""
        tax_entry = aliased(LedgerEntry)
        tax_account = aliased(Account)
        taxes = (
            # PostgreSQL sums BIGINTs as NUMERIC: cast back, for an int.
            select(cast(func.coalesce(func.sum(tax_entry.amount), 0), BigInteger))
            .join(tax_account, tax_account.id == tax_entry.account_id)
            .where(
                tax_entry.transaction_id == LedgerEntry.transaction_id,
                tax_account.kind.in_(TAX_ACCOUNT_KINDS),
            )
            .scalar_subquery()
        )
        query = (
            select(LedgerEntry, LedgerTransaction, Withdrawal.status, taxes)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .outerjoin(Withdrawal, Withdrawal.hold_transaction_id == LedgerTransaction.id)
            .where(LedgerEntry.account_id == account_id)
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(LedgerEntry.id < before_id)
        if category is not None:
            query = query.where(LedgerTransaction.category == category)
        if since is not None:
            query = query.where(LedgerEntry.created_at >= since)
        if until is not None:
            query = query.where(LedgerEntry.created_at < until)
        return (await self.session.execute(query)).all()
