"""All SQL of the payments domain."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.models import Deposit, MpesaCallback, Withdrawal
from gamehub.models.payments import DepositStatus, WithdrawalStatus

Row = TypeVar("Row", Deposit, Withdrawal)


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _locked(self, query: Select[Row]) -> Row | None:
        result = await self.session.execute(
            # Another connection may have settled it since this session last looked.
            query.with_for_update().execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def deposit_for_update(self, deposit_id: int) -> Deposit | None:
        return await self._locked(select(Deposit).where(Deposit.id == deposit_id))

    async def deposit_by_checkout_for_update(self, checkout_request_id: str) -> Deposit | None:
        return await self._locked(
            select(Deposit).where(Deposit.checkout_request_id == checkout_request_id)
        )

    async def users_deposit(self, user_id: int, deposit_id: int) -> Deposit | None:
        result = await self.session.execute(
            select(Deposit).where(Deposit.id == deposit_id, Deposit.user_id == user_id)
        )
        return result.scalar_one_or_none()

    async def withdrawal_for_update(self, withdrawal_id: int) -> Withdrawal | None:
        return await self._locked(select(Withdrawal).where(Withdrawal.id == withdrawal_id))

    async def withdrawal_by_originator_for_update(self, originator_id: str) -> Withdrawal | None:
        return await self._locked(
            select(Withdrawal).where(Withdrawal.originator_conversation_id == originator_id)
        )

    async def users_withdrawal(self, user_id: int, withdrawal_id: int) -> Withdrawal | None:
        result = await self.session.execute(
            select(Withdrawal).where(Withdrawal.id == withdrawal_id, Withdrawal.user_id == user_id)
        )
        return result.scalar_one_or_none()

    async def withdrawn_since(self, user_id: int, since: datetime) -> int:
        """What the user has withdrawn or has on its way out since ``since``."""
        result = await self.session.execute(
            select(func.coalesce(func.sum(Withdrawal.amount), 0)).where(
                Withdrawal.user_id == user_id,
                Withdrawal.created_at >= since,
                Withdrawal.status != WithdrawalStatus.FAILED.value,
            )
        )
        return int(result.scalar_one())

    async def deposits_to_query(self, created_before: datetime, now: datetime) -> list[int]:
        result = await self.session.execute(
            select(Deposit.id)
            .where(
                Deposit.status == DepositStatus.PENDING.value,
                Deposit.checkout_request_id.is_not(None),
                Deposit.created_at <= created_before,
                (Deposit.next_query_at.is_(None)) | (Deposit.next_query_at <= now),
            )
            .order_by(Deposit.id)
            .limit(100)
        )
        return list(result.scalars())

    async def withdrawals_to_query(self, updated_before: datetime, now: datetime) -> list[int]:
        """Unknown outcomes, and submitted payments whose result never came."""
        result = await self.session.execute(
            select(Withdrawal.id)
            .where(
                Withdrawal.status.in_(
                    [WithdrawalStatus.UNKNOWN.value, WithdrawalStatus.SUBMITTED.value]
                ),
                Withdrawal.updated_at <= updated_before,
                (Withdrawal.next_query_at.is_(None)) | (Withdrawal.next_query_at <= now),
            )
            .order_by(Withdrawal.id)
            .limit(100)
        )
        return list(result.scalars())

    async def store_callback(
        self, kind: str, external_id: str, payload: str, source_ip: str | None
    ) -> MpesaCallback | None:
        """Keep the raw body once; None if this (kind, id) was stored before (a replay)."""
        callback = MpesaCallback(
            kind=kind, external_id=external_id[:64], payload=payload, source_ip=source_ip
        )
        try:
            async with self.session.begin_nested():
                self.session.add(callback)
        except IntegrityError:
            return None
        return callback

    async def stored_callback(self, kind: str, external_id: str) -> MpesaCallback | None:
        result = await self.session.execute(
            select(MpesaCallback).where(
                MpesaCallback.kind == kind, MpesaCallback.external_id == external_id
            )
        )
        return result.scalar_one_or_none()
