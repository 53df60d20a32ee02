"""The wallet's rules: what a player may read of their money, and operators' audited
adjustments. Every movement itself goes through :mod:`gamehub.wallet.ledger`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.events import EventBus
from gamehub.core.pagination import unknown_value
from gamehub.core.runtime import Runtime
from gamehub.models import LedgerEntry, LedgerTransaction
from gamehub.models.ledger import AccountKind, Category
from gamehub.wallet.ledger import Ledger, Posting
from gamehub.wallet.repository import WalletRepository, balance_and_held

CATEGORIES = sorted(c.value for c in Category)


async def balance_of(runtime: Runtime, user_id: int) -> tuple[int, int]:
    """(balance, held by pending withdrawals) in one statement, outside any transaction."""
    row = await balance_and_held(runtime.db, user_id, runtime.settings.currency)
    if row is None:
        raise WalletMissing(runtime.settings.currency)
    return wallet_balances(row)


def wallet_balances(row: Mapping[str, Any]) -> tuple[int, int]:
    """(balance, held) of a wallet row, in minor units (a sum may come back as a decimal)."""
    return int(row["balance"]), int(row["held"])


async def caller_wallet_row(
    runtime: Runtime, user_id: int, family_id: str
) -> Mapping[str, Any] | None:
    """GET /wallet's row (``balance``, ``held``) with the state an access token of
    session ``family_id`` is checked against (:func:`gamehub.accounts.deps.read_as_caller`)."""
    return await balance_and_held(runtime.db, user_id, runtime.settings.currency, family_id)


class WalletMissing(LookupError):
    """Every account is created with its wallet: one without is a broken invariant."""

    def __init__(self, currency: str) -> None:
        # The log line of the request or the command names the user.
        super().__init__(f"the account has no {currency} wallet")


class WalletService:
    def __init__(
        self, session: AsyncSession, currency: str, events: EventBus | None = None
    ) -> None:
        self.session = session
        self.currency = currency
        # Who hears of an adjustment (its owner, as transaction_update); none for a
        # reader or a tool without a bus.
        self.events = events

    async def movements(
        self,
        user_id: int,
        *,
        before_id: int | None,
        category: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> Sequence[Row[LedgerEntry, LedgerTransaction, str, int]]:
        """The wallet's entries newest first, with their transaction, (for a held
        withdrawal) its status and the taxes it posted; ``limit`` rows at most."""
        if category is not None and category not in CATEGORIES:
            raise unknown_value("category", CATEGORIES)
        account = await Ledger(self.session).wallet(user_id, self.currency)
        return await WalletRepository(self.session).lines(
            account.id,
            before_id=before_id,
            category=category,
            since=since,
            until=until,
            limit=limit,
        )

    async def adjust(
        self, user_id: int, amount_minor: int, *, reason: str, actor: str
    ) -> tuple[LedgerTransaction, int]:
        """Credit (positive) or debit (negative) a wallet against the house; returns the
        ledger transaction and the new balance. A debit never takes a wallet below zero."""
        if amount_minor == 0:
            raise ValueError("an adjustment of zero moves nothing")
        if not reason.strip():
            raise ValueError("an adjustment needs a reason")
        ledger = Ledger(self.session, self.events)
        wallet = await ledger.wallet(user_id, self.currency)
        house = await ledger.system_account(AccountKind.HOUSE, self.currency)
        transaction = await ledger.post(
            Category.ADJUSTMENT,
            [Posting(wallet, amount_minor), Posting(house, -amount_minor)],
            reference=f"adjustment:{uuid.uuid4().hex}",
            description=reason.strip(),
            actor=actor,
        )
        return transaction, wallet.balance
