"""What the database says while the load runs: the ledger's invariants, and anything left
stuck (keys still in progress, payments not final, rooms not finished)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from gamehub.core.idempotency import ABANDONED_AFTER
from gamehub.models import Account, Deposit, IdempotencyKey, RouletteRoom, Withdrawal
from gamehub.models.games import RoomStatus
from gamehub.models.ledger import AccountKind
from gamehub.models.payments import DepositStatus, WithdrawalStatus
from gamehub.wallet.verify import verify_ledger

# Final, or handed to a person (needs_review): nothing automatic is left to happen.
SETTLED_DEPOSITS = [
    DepositStatus.COMPLETED.value,
    DepositStatus.FAILED.value,
    DepositStatus.EXPIRED.value,
    DepositStatus.NEEDS_REVIEW.value,
]
SETTLED_WITHDRAWALS = [
    WithdrawalStatus.COMPLETED.value,
    WithdrawalStatus.FAILED.value,
    WithdrawalStatus.NEEDS_REVIEW.value,
]


@dataclass
class Snapshot:
    at: float
    reachable: bool
    problems: list[str] = field(default_factory=list)
    negative_wallets: int = 0


@dataclass
class Stuck:
    # Keys a retry would still find "in progress" (409): no response, no payment bound to
    # them (a retry of one of those answers with the payment's state), not yet abandoned.
    keys_in_progress: int = 0
    deposits_not_final: int = 0
    withdrawals_not_final: int = 0
    payments_for_review: int = 0
    rooms_not_finished: int = 0

    @property
    def total(self) -> int:
        return (
            self.keys_in_progress
            + self.deposits_not_final
            + self.withdrawals_not_final
            + self.rooms_not_finished
        )


class Inspector:
    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=True, pool_size=2)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def snapshot(self, at: float) -> Snapshot:
        try:
            async with self.sessions() as session:
                report = await verify_ledger(session)
                negative = await session.scalar(
                    select(func.count(Account.id)).where(
                        Account.kind == AccountKind.WALLET.value, Account.balance < 0
                    )
                )
        except (OperationalError, DBAPIError, OSError):
            return Snapshot(at, reachable=False)
        return Snapshot(at, True, list(report.problems), int(negative or 0))

    async def stuck(self, older_than: timedelta) -> Stuck:
        """What has been in a non-final state for longer than ``older_than``."""
        now = datetime.now(UTC)
        cutoff = now - older_than
        async with self.sessions() as session:

            async def count(*where: object) -> int:
                return int(await session.scalar(select(func.count()).where(*where)) or 0)  # type: ignore[arg-type]

            return Stuck(
                keys_in_progress=await count(
                    IdempotencyKey.response_status.is_(None),
                    IdempotencyKey.resource_id.is_(None),
                    IdempotencyKey.created_at < cutoff,
                    IdempotencyKey.created_at > now - ABANDONED_AFTER,
                ),
                deposits_not_final=await count(
                    Deposit.status.not_in(SETTLED_DEPOSITS), Deposit.created_at < cutoff
                ),
                withdrawals_not_final=await count(
                    Withdrawal.status.not_in(SETTLED_WITHDRAWALS), Withdrawal.created_at < cutoff
                ),
                payments_for_review=await count(
                    Withdrawal.status == WithdrawalStatus.NEEDS_REVIEW.value
                )
                + await count(Deposit.status == DepositStatus.NEEDS_REVIEW.value),
                rooms_not_finished=await count(
                    RouletteRoom.status.in_([RoomStatus.WAITING.value, RoomStatus.PLAYING.value]),
                    RouletteRoom.created_at < cutoff,
                ),
            )

    async def close(self) -> None:
        await self.engine.dispose()
