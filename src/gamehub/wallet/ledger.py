"""Posting to the double-entry ledger: the one place money moves.

Every movement is one ledger transaction whose entries sum to zero. Wallet balances
change only here, by a guarded UPDATE that refuses to go below zero, so concurrent
debits can neither overdraw nor lose an update on any backend. System accounts are
append-only: posting to them inserts an entry and touches no shared row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from weakref import WeakKeyDictionary

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from gamehub.core.events import EventBus, Outgoing, publish_after_commit, user_topic
from gamehub.core.money import to_major
from gamehub.models import Account, LedgerEntry, LedgerTransaction
from gamehub.models.ledger import TAX_KINDS, AccountKind, Category
from gamehub.wallet.errors import AlreadyPosted, InsufficientFunds

_SYSTEM_ACCOUNTS = "gamehub_system_accounts"
# System accounts never change once opened: each process looks each one up once per
# database (keyed by the engine, so that every test's fresh database starts afresh):
# code -> id, for the accounts seen committed.
_SYSTEM_ACCOUNT_IDS: WeakKeyDictionary[Engine, dict[str, int]] = WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Posting:
    account: Account
    amount: int


def wallet_code(user_id: int, currency: str) -> str:
    return f"wallet:{user_id}:{currency}"


def system_code(kind: AccountKind, currency: str) -> str:
    return f"{kind.value}:{currency}"


def movement_event(
    user_id: int,
    *,
    entry_id: int,
    category: str,
    amount: int,
    balance_after: int,
    currency: str,
    reference: str | None,
    description: str,
    created_at: datetime,
    tax: int = 0,
) -> Outgoing:
    """A wallet's ledger entry told to its owner (``transaction_update``), as GET
    /wallet/transactions lists it, and its currency."""
    return Outgoing(
        "transaction_update",
        {
            "id": entry_id,
            "category": category,
            "amount": to_major(amount),
            "balance_after": to_major(balance_after),
            "currency": currency,
            "reference": reference,
            "description": description,
            "created_at": created_at,
            "tax": to_major(tax),
        },
        [user_topic(user_id)],
    )


class Ledger:
    """``events``: the bus that tells a wallet's owner of each movement once it commits
    (a ``transaction_update``); without it (checks, reads, tools) nobody is told."""

    def __init__(self, session: AsyncSession, events: EventBus | None = None) -> None:
        self.session = session
        self.events = events

    async def open_wallet(self, user_id: int, currency: str) -> Account:
        account = Account(
            code=wallet_code(user_id, currency),
            kind=AccountKind.WALLET.value,
            user_id=user_id,
            currency=currency,
            balance=0,
        )
        self.session.add(account)
        await self.session.flush()
        return account

    async def wallet(self, user_id: int, currency: str, *, for_update: bool = False) -> Account:
        """The user's wallet; ``for_update`` locks it to serialise checks that read more
        than the balance (a daily limit) with the debit that follows."""
        query = select(Account).where(Account.code == wallet_code(user_id, currency))
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one()

    async def system_account(self, kind: AccountKind, currency: str) -> Account:
        """The system account of this kind, opened on first use.

        Once a process has seen it committed, no round trip: a posting needs only its
        id, kind and currency, so a stand-in that no session tracks serves."""
        code = system_code(kind, currency)
        known: dict[str, Account] = self.session.info.setdefault(_SYSTEM_ACCOUNTS, {})
        if code in known:
            return known[code]
        committed = _SYSTEM_ACCOUNT_IDS.setdefault(self.session.get_bind().engine, {})
        if code in committed:
            stand_in = Account(
                id=committed[code], code=code, kind=kind.value, currency=currency, balance=0
            )
            known[code] = stand_in
            return stand_in
        result = await self.session.execute(select(Account).where(Account.code == code))
        found = result.scalar_one_or_none()
        if found is not None:
            # Found, so committed (by someone else, or it would be known to this session).
            committed[code] = found.id
            known[code] = found
            return found
        try:
            async with self.session.begin_nested():
                account = Account(code=code, kind=kind.value, currency=currency, balance=0)
                self.session.add(account)
        except IntegrityError:
            # Another transaction opened it first.
            result = await self.session.execute(select(Account).where(Account.code == code))
            account = result.scalar_one()
        # Not remembered for the process yet: this transaction may still roll back.
        known[code] = account
        return account

    async def system_account_id(self, kind: AccountKind, currency: str) -> int:
        return (await self.system_account(kind, currency)).id

    async def post(
        self,
        category: Category,
        postings: Sequence[Posting],
        *,
        reference: str | None = None,
        description: str = "",
        actor: str | None = None,
    ) -> LedgerTransaction:
        if len(postings) < 2:
            raise ValueError("a ledger transaction needs at least two entries")
        if sum(p.amount for p in postings) != 0:
            raise ValueError("ledger entries must sum to zero")
        if any(p.amount == 0 for p in postings):
            raise ValueError("a ledger entry cannot be zero")
        currencies = {p.account.currency for p in postings}
        if len(currencies) != 1:
            raise ValueError("a ledger transaction moves one currency")

        transaction = LedgerTransaction(
            category=category.value,
            reference=reference,
            description=description[:255],
            currency=currencies.pop(),
            actor=actor,
        )
        self.session.add(transaction)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            # The reference is unique: no look-up first, the constraint answers. The
            # request's transaction is spoiled, but the movement is refused anyway.
            if reference is None:
                raise
            raise AlreadyPosted(f"{reference} was already posted") from exc

        now = datetime.now(UTC)
        balances: dict[int, int] = {}
        # A fixed order of row locks keeps two transfers between the same wallets from
        # deadlocking each other.
        for posting in sorted(postings, key=lambda p: p.account.id):
            if posting.account.kind == AccountKind.WALLET.value:
                balances[posting.account.id] = await self._move_wallet(posting, now)
        entries = [
            LedgerEntry(
                transaction_id=transaction.id,
                account_id=p.account.id,
                amount=p.amount,
                balance_after=balances.get(p.account.id),
                created_at=now,
            )
            for p in postings
        ]
        self.session.add_all(entries)
        await self.session.flush()
        if self.events is not None:
            tax = sum(p.amount for p in postings if p.account.kind in TAX_KINDS)
            for posting, entry in zip(postings, entries, strict=True):
                if posting.account.user_id is not None and entry.balance_after is not None:
                    self._tell_owner(posting.account.user_id, transaction, entry, tax)
        return transaction

    def _tell_owner(
        self, user_id: int, transaction: LedgerTransaction, entry: LedgerEntry, tax: int
    ) -> None:
        assert self.events is not None
        assert entry.balance_after is not None
        told = movement_event(
            user_id,
            entry_id=entry.id,
            category=transaction.category,
            amount=entry.amount,
            balance_after=entry.balance_after,
            currency=transaction.currency,
            reference=transaction.reference,
            description=transaction.description,
            created_at=entry.created_at,
            tax=tax,
        )
        publish_after_commit(self.session, self.events, told.name, told.data, users=[user_id])

    async def _move_wallet(self, posting: Posting, now: datetime) -> int:
        guarded = (
            update(Account)
            .where(Account.id == posting.account.id, Account.balance + posting.amount >= 0)
            .values(balance=Account.balance + posting.amount, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        balance: int | None
        if self.session.get_bind().dialect.update_returning:
            returned = await self.session.execute(guarded.returning(Account.balance))
            balance = returned.scalar_one_or_none()
        else:
            # MariaDB has no UPDATE ... RETURNING. Our UPDATE holds the row lock until
            # commit, so the read that follows sees our own result.
            result = await self.session.execute(guarded)
            balance = None
            if result.rowcount:  # type: ignore[attr-defined]
                balance = (
                    await self.session.execute(
                        select(Account.balance).where(Account.id == posting.account.id)
                    )
                ).scalar_one()
        if balance is None:
            raise InsufficientFunds()
        set_committed_value(posting.account, "balance", balance)
        return int(balance)

    async def balance(self, account: Account) -> int:
        """A wallet's stored balance; a system account's sum of entries."""
        if account.kind == AccountKind.WALLET.value:
            result = await self.session.execute(
                select(Account.balance).where(Account.id == account.id)
            )
            return int(result.scalar_one())
        total = await self.session.execute(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account_id == account.id
            )
        )
        return int(total.scalar_one())
