"""Wallet responses. Amounts are major units (KES 12.50 is 12.5)."""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct


class WalletOut(Struct):
    balance: float
    currency: str
    # Money on its way out in withdrawals that have not completed or failed yet.
    held: float


class WalletTransactionOut(Struct):
    id: int
    category: str
    amount: float
    balance_after: float
    status: str
    reference: str | None
    description: str
    created_at: datetime
    # The taxes posted with this movement (docs/operators.md, "Taxes"): withheld from a
    # stake, winnings or deposit, or charged on a withdrawal; negative when a refund
    # gave a tax back; 0 when untaxed.
    tax: float


class WalletTransactionPage(Struct):
    items: list[WalletTransactionOut]
    # Pass as ?cursor= for the next, older page; null on the last page.
    next_cursor: str | None
