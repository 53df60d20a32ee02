"""All of player protection's SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.models import Deposit, LedgerEntry, LedgerTransaction, User, UserProfile
from gamehub.models.ledger import Category
from gamehub.models.payments import DepositStatus
from gamehub.models.protection import PlayerLimit, PlayerPhone, PlayerProtection

# Deposits that count against a deposit limit: paid, or still able to be (an STK prompt
# the player may yet approve, an answer an operator is looking at).
COUNTED_DEPOSITS = (
    DepositStatus.PENDING.value,
    DepositStatus.COMPLETED.value,
    DepositStatus.NEEDS_REVIEW.value,
)
# A game's refund gives a stake back: it was never wagered (a failed withdrawal's refund
# is no game's).
GAME_REFUND = "roulette-refund:%"


@dataclass(frozen=True, slots=True)
class Identity:
    dob: date | None
    email_verified: bool


@dataclass(frozen=True, slots=True)
class Play:
    """A wallet's play over a period, in minor units."""

    stakes: int
    # Winnings less stakes: negative for a loss.
    net: int


class ProtectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def identity(self, user_id: int) -> Identity:
        row = (
            await self.session.execute(
                select(UserProfile.dob, User.email_verified)
                .join(User, User.id == UserProfile.user_id)
                .where(UserProfile.user_id == user_id)
            )
        ).one()
        return Identity(row.dob, bool(row.email_verified))

    async def protection(
        self, user_id: int, *, for_update: bool = False
    ) -> PlayerProtection | None:
        query = select(PlayerProtection).where(PlayerProtection.user_id == user_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def protection_or_new(self, user_id: int) -> PlayerProtection:
        """The player's row, locked; created (and flushed) on their first control."""
        found = await self.protection(user_id, for_update=True)
        if found is None:
            found = PlayerProtection(user_id=user_id)
            self.session.add(found)
            await self.session.flush()
        return found

    async def limits(self, user_id: int) -> Sequence[PlayerLimit]:
        query = (
            select(PlayerLimit)
            .where(PlayerLimit.user_id == user_id)
            .order_by(PlayerLimit.kind, PlayerLimit.period)
        )
        return list((await self.session.execute(query)).scalars())

    async def play_since(self, wallet_id: int, since: datetime) -> Play:
        """Stakes and net result of the wallet's game movements since ``since``."""
        game_refund = and_(
            LedgerTransaction.category == Category.REFUND.value,
            LedgerTransaction.reference.like(GAME_REFUND),
        )
        stake = case(
            (
                and_(LedgerTransaction.category == Category.BET.value, LedgerEntry.amount < 0),
                -LedgerEntry.amount,
            ),
            (game_refund, -LedgerEntry.amount),
            else_=0,
        )
        query = (
            select(
                func.coalesce(func.sum(stake), 0),
                func.coalesce(func.sum(LedgerEntry.amount), 0),
            )
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(
                LedgerEntry.account_id == wallet_id,
                LedgerEntry.created_at >= since,
                or_(
                    LedgerTransaction.category.in_([Category.BET.value, Category.WIN.value]),
                    game_refund,
                ),
            )
        )
        stakes, net = (await self.session.execute(query)).one()
        return Play(int(stakes), int(net))

    async def deposited_since(self, user_id: int, since: datetime) -> int:
        query = select(func.coalesce(func.sum(Deposit.amount), 0)).where(
            Deposit.user_id == user_id,
            Deposit.created_at >= since,
            Deposit.status.in_(COUNTED_DEPOSITS),
        )
        return int((await self.session.execute(query)).scalar_one())

    async def player_phone(self, user_id: int, phone: str) -> PlayerPhone | None:
        query = select(PlayerPhone).where(
            PlayerPhone.user_id == user_id, PlayerPhone.phone == phone
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def phone_held_by_another(self, user_id: int, phone: str) -> bool:
        """Another account registered with the number or proved it."""
        query = (
            select(PlayerPhone.id)
            .where(
                PlayerPhone.phone == phone,
                PlayerPhone.user_id != user_id,
                or_(PlayerPhone.registered.is_(True), PlayerPhone.proven_at.is_not(None)),
            )
            .limit(1)
        )
        return (await self.session.execute(query)).first() is not None
