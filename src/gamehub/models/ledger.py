"""The double-entry ledger: accounts, immutable transactions and their balanced entries.

A user's wallet is an account of kind ``wallet``; its stored balance is kept by guarded
updates and always equals the sum of its entries. System accounts (house, M-Pesa
clearing, pending withdrawals, game escrow, bonus) are append-only: their balance is
the sum of their entries, so that busy ones never become a hot row every bet updates.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from gamehub.models.base import Base, BigIntPK, UTCDateTime, utcnow


class AccountKind(StrEnum):
    WALLET = "wallet"
    HOUSE = "house"
    MPESA_CLEARING = "mpesa_clearing"
    PENDING_WITHDRAWALS = "pending_withdrawals"
    GAME_ESCROW = "game_escrow"
    BONUS = "bonus"
    # Tax liabilities, one per rule (gamehub.wallet.taxes): what is owed to the revenue
    # authority, append-only like the others.
    TAX_STAKE = "tax_stake"
    TAX_DEPOSIT = "tax_deposit"
    TAX_WITHDRAWAL = "tax_withdrawal"
    TAX_WINNINGS = "tax_winnings"


TAX_KINDS = frozenset(
    {
        AccountKind.TAX_STAKE.value,
        AccountKind.TAX_DEPOSIT.value,
        AccountKind.TAX_WITHDRAWAL.value,
        AccountKind.TAX_WINNINGS.value,
    }
)


class Category(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    WITHDRAWAL_PAYOUT = "withdrawal_payout"
    BET = "bet"
    WIN = "win"
    REFUND = "refund"
    BONUS = "bonus"
    ADJUSTMENT = "adjustment"
    RAKE = "rake"


class Account(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        # Only wallets keep a stored balance, and it can never go below zero.
        CheckConstraint("kind <> 'wallet' OR balance >= 0", name="wallet_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "wallet:<user id>:<currency>" or "<kind>:<currency>": one account per purpose.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    # A unique business reference ("mpesa-deposit:42") makes a posting happen once.
    reference: Mapped[str | None] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    currency: Mapped[str] = mapped_column(String(3))
    # Who caused it when that was an operator (adjustments), for the audit trail.
    actor: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"))
    # Signed minor units: credits to the account are positive.
    amount: Mapped[int] = mapped_column(BigInteger)
    # The wallet's balance after this entry; None for append-only system accounts.
    balance_after: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
