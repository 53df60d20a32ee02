"""Operator money movements: audited adjustments."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.errors import UserNotFound
from gamehub.accounts.repository import AccountRepository
from gamehub.models import LedgerTransaction
from gamehub.models.ledger import AccountKind, Category
from gamehub.wallet.ledger import Ledger, Posting


async def adjust_wallet(
    session: AsyncSession,
    *,
    username: str,
    amount_minor: int,
    currency: str,
    reason: str,
    actor: str,
) -> tuple[LedgerTransaction, int]:
    """Credit (positive) or debit (negative) a wallet against the house; returns the
    ledger transaction and the new balance. A debit never takes a wallet below zero."""
    if amount_minor == 0:
        raise ValueError("an adjustment of zero moves nothing")
    if not reason.strip():
        raise ValueError("an adjustment needs a reason")
    user = await AccountRepository(session).user_by_username(username)
    if user is None:
        raise UserNotFound(f"no user named {username}")
    ledger = Ledger(session)
    wallet = await ledger.wallet(user.id, currency)
    house = await ledger.system_account(AccountKind.HOUSE, currency)
    transaction = await ledger.post(
        Category.ADJUSTMENT,
        [Posting(wallet, amount_minor), Posting(house, -amount_minor)],
        reference=f"adjustment:{uuid.uuid4().hex}",
        description=reason.strip(),
        actor=actor,
    )
    return transaction, wallet.balance
