"""Every query the operator routes make. The admin layer sits above the domains and reads
across their tables; what changes a domain's state still goes through its service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gamehub.core.money import to_major
from gamehub.models import (
    Account,
    AuditLog,
    Bet,
    Deposit,
    FairnessSeed,
    Game,
    LedgerEntry,
    LedgerTransaction,
    LoginFailure,
    PlayerNote,
    PlayerPhone,
    RefreshToken,
    RouletteRoom,
    SharedPhone,
    User,
    UserProfile,
    UserRole,
    VerificationToken,
    Withdrawal,
)
from gamehub.models.games import BetKind
from gamehub.models.ledger import AccountKind
from gamehub.models.payments import DepositStatus, WithdrawalStatus
from gamehub.wallet.taxes import TAX_ACCOUNT_KINDS

# Columns never shown, not even to an operator: secrets and what stands for them.
_HIDDEN = {"token_hash", "callback_token", "status_token", "password_hash", "api_token_hash"}
_MONEY = {
    "amount",
    "win_amount",
    "balance_after",
    "balance",
    # The taxes a bet, a deposit or a withdrawal records, as the player's views show them.
    "tax",
    "stake_tax",
    "winnings_tax",
}


def as_record(row: Any, *, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """A row as a JSON object: money in major units, secrets left out."""
    record: dict[str, Any] = {}
    for column in row.__table__.columns:
        name = column.key
        if name in _HIDDEN or name in exclude:
            continue
        value = getattr(row, name)
        record[name] = to_major(value) if name in _MONEY and isinstance(value, int) else value
    return record


@dataclass(frozen=True, slots=True)
class Kind:
    """One of a player's lists: its table, its owner column and its time column."""

    model: Any
    owner: InstrumentedAttribute[Any]
    at: InstrumentedAttribute[Any]
    key: InstrumentedAttribute[Any]


# The lists of one player an operator pages through (and an export holds in full).
KINDS: dict[str, Kind] = {
    "bets": Kind(Bet, Bet.user_id, Bet.created_at, Bet.id),
    "deposits": Kind(Deposit, Deposit.user_id, Deposit.created_at, Deposit.id),
    "withdrawals": Kind(Withdrawal, Withdrawal.user_id, Withdrawal.created_at, Withdrawal.id),
    # Each login starts a refresh-token family; its rotations follow in the same family.
    "logins": Kind(RefreshToken, RefreshToken.user_id, RefreshToken.created_at, RefreshToken.id),
    "notes": Kind(PlayerNote, PlayerNote.user_id, PlayerNote.created_at, PlayerNote.id),
}
LEDGER = "ledger"


class AdminRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Roles

    async def roles_of(self, user_id: int) -> set[str]:
        rows = await self.session.scalars(select(UserRole.role).where(UserRole.user_id == user_id))
        return set(rows)

    async def add_role(self, user_id: int, role: str, granted_by: str) -> None:
        self.session.add(UserRole(user_id=user_id, role=role, granted_by=granted_by))
        await self.session.flush()

    async def remove_role(self, user_id: int, role: str) -> bool:
        result = await self.session.execute(
            delete(UserRole).where(UserRole.user_id == user_id, UserRole.role == role)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def other_active_admins(self, user_id: int) -> int:
        """Active holders of the admin role but ``user_id``, their rows locked, so that two
        admins removing their own roles at once cannot both see the other one left."""
        rows = await self.session.scalars(
            select(UserRole.id)
            .join(User, User.id == UserRole.user_id)
            .where(UserRole.role == "admin", User.is_active, UserRole.user_id != user_id)
            .with_for_update()
        )
        return len(list(rows))

    # Audit

    async def add_audit(self, row: AuditLog) -> None:
        self.session.add(row)
        await self.session.flush()

    async def audit_page(
        self,
        *,
        before_id: int | None,
        since: datetime | None,
        until: datetime | None,
        action: str | None,
        target_kind: str | None,
        target_id: str | None,
        limit: int,
    ) -> list[AuditLog]:
        query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AuditLog.id < before_id)
        if since is not None:
            query = query.where(AuditLog.created_at >= since)
        if until is not None:
            query = query.where(AuditLog.created_at < until)
        if action is not None:
            query = query.where(AuditLog.action == action)
        if target_kind is not None:
            query = query.where(AuditLog.target_kind == target_kind)
        if target_id is not None:
            query = query.where(AuditLog.target_id == target_id)
        return list(await self.session.scalars(query))

    # Players

    async def user(self, user_id: int, *, for_update: bool = False) -> User | None:
        query = select(User).where(User.id == user_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.scalars(query)).first()

    async def search(self, text: str, *, after_id: int | None, limit: int) -> list[User]:
        """Accounts whose name, email or phone contains ``text``, ignoring case, newest first."""
        # "/" escapes: a backslash means different things in MySQL's and SQL's literals.
        escaped = text.lower().replace("/", "//").replace("%", "/%").replace("_", "/_")
        pattern = f"%{escaped}%"
        query = (
            select(User)
            .where(
                or_(
                    User.username_key.like(pattern, escape="/"),
                    func.lower(User.email).like(pattern, escape="/"),
                    User.phone.like(pattern, escape="/"),
                    func.lower(User.full_name).like(pattern, escape="/"),
                )
            )
            .order_by(User.id.desc())
            .limit(limit)
        )
        if after_id is not None:
            query = query.where(User.id < after_id)
        return list(await self.session.scalars(query))

    async def profile(self, user_id: int) -> UserProfile | None:
        return (
            await self.session.scalars(select(UserProfile).where(UserProfile.user_id == user_id))
        ).first()

    async def login_locks(self, names: Sequence[str]) -> list[LoginFailure]:
        return list(
            await self.session.scalars(select(LoginFailure).where(LoginFailure.name.in_(names)))
        )

    async def records(
        self,
        kind: str,
        user_id: int,
        *,
        before_id: int | None,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        """One page of a player's ``kind`` list, newest first (all of it when no limit)."""
        if kind == LEDGER:
            return await self._ledger_lines(user_id, before_id, since, until, limit)
        spec = KINDS[kind]
        query: Any = select(spec.model).where(spec.owner == user_id)
        query = _paged(query, spec.key, spec.at, before_id, since, until, limit)
        return [as_record(row) for row in await self.session.scalars(query)]

    async def _ledger_lines(
        self,
        user_id: int,
        before_id: int | None,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        query: Any = (
            select(LedgerEntry, LedgerTransaction)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .join(Account, Account.id == LedgerEntry.account_id)
            .where(Account.user_id == user_id, Account.kind == AccountKind.WALLET.value)
        )
        query = _paged(
            query, LedgerEntry.id, LedgerEntry.created_at, before_id, since, until, limit
        )
        lines = []
        for entry, transaction in await self.session.execute(query):
            line = as_record(entry)
            line.update(
                category=transaction.category,
                reference=transaction.reference,
                description=transaction.description,
                actor=transaction.actor,
            )
            lines.append(line)
        return lines

    async def revealed_seeds(self, user_id: int) -> list[dict[str, Any]]:
        """The player's fairness seeds; a server seed only once it has been revealed."""
        rows = await self.session.scalars(
            select(FairnessSeed).where(FairnessSeed.user_id == user_id).order_by(FairnessSeed.id)
        )
        seeds = []
        for seed in rows:
            record = as_record(seed)
            if seed.revealed_at is None:
                record.pop("server_seed", None)
            seeds.append(record)
        return seeds

    async def add_note(self, user_id: int, author: str, body: str) -> PlayerNote:
        note = PlayerNote(user_id=user_id, author=author, body=body)
        self.session.add(note)
        await self.session.flush()
        return note

    async def payment_status(self, kind: str, payment_id: int) -> str | None:
        model: Any = Deposit if kind == "deposit" else Withdrawal
        return await self.session.scalar(
            select(model.status).where(model.id == payment_id).with_for_update()
        )

    async def awaiting_approval(
        self, *, after_id: int | None, limit: int
    ) -> list[tuple[Withdrawal, str]]:
        """The approval queue, oldest first (who has waited longest), with each player's name."""
        query = (
            select(Withdrawal, User.username)
            .join(User, User.id == Withdrawal.user_id)
            .where(Withdrawal.status == WithdrawalStatus.AWAITING_APPROVAL.value)
            .order_by(Withdrawal.id)
            .limit(limit)
        )
        if after_id is not None:
            query = query.where(Withdrawal.id > after_id)
        return [(w, name) for w, name in (await self.session.execute(query)).all()]

    # Phones

    async def phone_proof(self, user_id: int, number: str) -> str | None:
        """How ``number`` was proven the player's (deposit, operator), None if it is not."""
        return await self.session.scalar(
            select(PlayerPhone.proven_by).where(
                PlayerPhone.user_id == user_id,
                PlayerPhone.phone == number,
                PlayerPhone.proven_at.is_not(None),
            )
        )

    async def phone_shared_by(self, number: str) -> str | None:
        """Who allowed ``number`` to register more than one account, None if nobody did."""
        return await self.session.scalar(
            select(SharedPhone.allowed_by).where(SharedPhone.phone == number)
        )

    # Erasure

    async def erase_personal_data(self, user: User, login_names: Sequence[str]) -> None:
        """What identifies the person goes; what the law keeps (ledger, bets, payments'
        amounts and receipts) stays, tied to an account that no longer names anyone."""
        user_id = user.id
        await self.session.execute(
            update(UserProfile)
            .where(UserProfile.user_id == user_id)
            .values(bio=None, avatar_url=None, location=None, dob=None)
        )
        for model in (PlayerNote, RefreshToken, VerificationToken):
            await self.session.execute(delete(model).where(model.user_id == user_id))
        await self.session.execute(delete(LoginFailure).where(LoginFailure.name.in_(login_names)))
        for payment in (Deposit, Withdrawal):
            await self.session.execute(
                update(payment).where(payment.user_id == user_id).values(phone="erased")
            )
        await self.session.flush()

    # Reports

    async def game_totals(self, since: datetime | None, until: datetime | None) -> list[Any]:
        query = (
            select(
                Game.slug,
                func.count(Bet.id),
                func.coalesce(func.sum(Bet.amount), 0),
                func.coalesce(func.sum(Bet.win_amount), 0),
                func.coalesce(func.sum(Bet.stake_tax + Bet.winnings_tax), 0),
            )
            .join(Bet, Bet.game_id == Game.id)
            .where(Bet.status != "open", Bet.status != "refunded")
            .group_by(Game.slug)
            .order_by(Game.slug)
        )
        query = _between(query, Bet.created_at, since, until)
        return list(await self.session.execute(query))

    async def wagered_by_table_version(
        self, game_id: int, since: datetime | None, until: datetime | None
    ) -> list[Any]:
        """The game's settled stakes per reward table version: (version, wagered)."""
        query = self._settled_stakes_by(Bet.reward_table_version, game_id).where(
            Bet.reward_table_version.is_not(None)
        )
        return await self._in_period(query, since, until)

    async def staked_by_room_rake(
        self, game_id: int, since: datetime | None, until: datetime | None
    ) -> list[Any]:
        """The game's settled roulette stakes per rake their rooms kept: (rake_bps,
        wagered)."""
        query = (
            self._settled_stakes_by(RouletteRoom.rake_bps, game_id)
            .join(RouletteRoom, RouletteRoom.id == Bet.room_id)
            .where(Bet.kind == BetKind.ROULETTE_STAKE.value)
        )
        return await self._in_period(query, since, until)

    @staticmethod
    def _settled_stakes_by(column: Any, game_id: int) -> Select[Any]:
        """The game's settled bets' stakes summed per ``column``: (value, wagered)."""
        return (
            select(column, func.coalesce(func.sum(Bet.amount), 0))
            .where(Bet.game_id == game_id, Bet.status != "open", Bet.status != "refunded")
            .group_by(column)
            .order_by(column)
        )

    async def _in_period(
        self, query: Select[Any], since: datetime | None, until: datetime | None
    ) -> list[Any]:
        return list(await self.session.execute(_between(query, Bet.created_at, since, until)))

    async def payment_totals(
        self, model: Any, since: datetime | None, until: datetime | None
    ) -> list[Any]:
        query = (
            select(model.status, func.count(model.id), func.coalesce(func.sum(model.amount), 0))
            .group_by(model.status)
            .order_by(model.status)
        )
        query = _between(query, model.created_at, since, until)
        return list(await self.session.execute(query))

    async def in_review(self) -> tuple[int, int]:
        deposits = await self.session.scalar(
            select(func.count(Deposit.id)).where(Deposit.status == DepositStatus.NEEDS_REVIEW.value)
        )
        withdrawals = await self.session.scalar(
            select(func.count(Withdrawal.id)).where(
                Withdrawal.status.in_(
                    [WithdrawalStatus.NEEDS_REVIEW.value, WithdrawalStatus.UNKNOWN.value]
                )
            )
        )
        return int(deposits or 0), int(withdrawals or 0)

    async def ledger_totals(self, since: datetime | None, until: datetime | None) -> list[Any]:
        """Per account kind: the entries posted in the period, in and out."""
        query = (
            select(
                Account.kind,
                func.coalesce(
                    func.sum(case((LedgerEntry.amount > 0, LedgerEntry.amount), else_=0)), 0
                ),
                func.coalesce(
                    func.sum(case((LedgerEntry.amount < 0, -LedgerEntry.amount), else_=0)), 0
                ),
            )
            .join(Account, Account.id == LedgerEntry.account_id)
            .group_by(Account.kind)
            .order_by(Account.kind)
        )
        query = _between(query, LedgerEntry.created_at, since, until)
        return list(await self.session.execute(query))

    async def tax_totals(self, since: datetime | None, until: datetime | None) -> list[Any]:
        """Per tax account kind: the movements taxed in the period (its credits) and what
        is owed for the period (credits less the taxes refunds gave back)."""
        query = (
            select(
                Account.kind,
                func.count(case((LedgerEntry.amount > 0, LedgerEntry.id))),
                func.coalesce(func.sum(LedgerEntry.amount), 0),
            )
            .join(Account, Account.id == LedgerEntry.account_id)
            .where(Account.kind.in_(TAX_ACCOUNT_KINDS))
            .group_by(Account.kind)
        )
        query = _between(query, LedgerEntry.created_at, since, until)
        return list(await self.session.execute(query))


def _between(query: Any, at: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        query = query.where(at >= since)
    if until is not None:
        query = query.where(at < until)
    return query


def _paged(
    query: Any,
    key: Any,
    at: Any,
    before_id: int | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> Any:
    query = _between(query, at, since, until).order_by(key.desc())
    if before_id is not None:
        query = query.where(key < before_id)
    return query if limit is None else query.limit(limit)


class AdminReads:
    """Reads on a connection without a transaction, for the role check before a route."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def staff(self, user_id: int) -> tuple[str, frozenset[str]] | None:
        """The active account's name and roles; None if it is gone or disabled."""
        user = (
            await self.connection.execute(
                select(User.username).where(User.id == user_id, User.is_active)
            )
        ).first()
        if user is None:
            return None
        roles = await self.connection.scalars(
            select(UserRole.role).where(UserRole.user_id == user_id)
        )
        return user.username, frozenset(roles)
