"""Checks every ledger invariant; ``gamehub ledger verify`` reports what it finds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.models import Account, LedgerEntry, LedgerTransaction
from gamehub.models.ledger import AccountKind

WALLET = AccountKind.WALLET.value

# Each kind of broken invariant, as /metrics labels it (gamehub_ledger_problems).
UNBALANCED = "unbalanced_transaction"
EMPTY = "empty_transaction"
DRIFT = "balance_drift"
NEGATIVE = "negative_balance"
RUNNING = "running_balance"
CURRENCY = "currency_mismatch"
PROBLEM_KINDS = (UNBALANCED, EMPTY, DRIFT, NEGATIVE, RUNNING, CURRENCY)


@dataclass
class LedgerReport:
    transactions: int = 0
    entries: int = 0
    wallets: int = 0
    problems: list[str] = field(default_factory=list)
    # How many problems of each kind (PROBLEM_KINDS).
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, problem: str) -> None:
        self.problems.append(problem)
        self.counts[kind] += 1


async def verify_ledger(session: AsyncSession) -> LedgerReport:
    report = LedgerReport(
        transactions=await _count(session, LedgerTransaction.id),
        entries=await _count(session, LedgerEntry.id),
        wallets=int(
            (
                await session.execute(select(func.count(Account.id)).where(Account.kind == WALLET))
            ).scalar_one()
        ),
    )
    add = report.add

    unbalanced = await session.execute(
        select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount), func.count())
        .group_by(LedgerEntry.transaction_id)
        .having((func.sum(LedgerEntry.amount) != 0) | (func.count() < 2))
    )
    for transaction_id, total, count in unbalanced:
        add(
            UNBALANCED,
            f"transaction {transaction_id}: {count} entries summing to {total}, not zero",
        )

    empty = await session.execute(
        select(LedgerTransaction.id)
        .outerjoin(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerEntry.id.is_(None))
    )
    for (tid,) in empty:
        add(EMPTY, f"transaction {tid}: has no entries")

    entry_sum = func.coalesce(func.sum(LedgerEntry.amount), 0)
    drift = await session.execute(
        select(Account.id, Account.balance, entry_sum)
        .outerjoin(LedgerEntry, LedgerEntry.account_id == Account.id)
        .where(Account.kind == WALLET)
        .group_by(Account.id, Account.balance)
        .having(Account.balance != entry_sum)
    )
    for account_id, balance, total in drift:
        add(DRIFT, f"wallet {account_id}: balance {balance} but entries sum to {total}")

    negative = await session.execute(
        select(Account.id, Account.balance).where(Account.kind == WALLET, Account.balance < 0)
    )
    for aid, bal in negative:
        add(NEGATIVE, f"wallet {aid}: negative balance {bal}")

    running = (
        func.sum(LedgerEntry.amount)
        .over(partition_by=LedgerEntry.account_id, order_by=LedgerEntry.id)
        .label("running")
    )
    lines = (
        select(LedgerEntry.id, LedgerEntry.account_id, LedgerEntry.balance_after, running)
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(Account.kind == WALLET)
        .subquery()
    )
    broken = await session.execute(
        select(lines.c.id, lines.c.account_id, lines.c.balance_after, lines.c.running).where(
            (lines.c.balance_after.is_(None)) | (lines.c.balance_after != lines.c.running)
        )
    )
    for entry_id, account_id, after, expected in broken:
        add(
            RUNNING,
            f"entry {entry_id} of wallet {account_id}: "
            f"balance_after {after}, running sum {expected}",
        )

    mixed = await session.execute(
        select(LedgerEntry.id)
        .join(Account, Account.id == LedgerEntry.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(Account.currency != LedgerTransaction.currency)
    )
    for (eid,) in mixed:
        add(CURRENCY, f"entry {eid}: currency differs from its transaction")
    return report


async def _count(session: AsyncSession, column: object) -> int:
    result = await session.execute(select(func.count(column)))  # type: ignore[arg-type]
    return int(result.scalar_one())
