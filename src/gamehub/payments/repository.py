"""All SQL of the payments domain."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.models import Deposit, MpesaCallback, Withdrawal
from gamehub.models.payments import (
    QUERIED_WITHDRAWAL_STATUSES,
    DepositStatus,
    WithdrawalStatus,
)

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

    async def deposit_by_token_for_update(self, token: str) -> Deposit | None:
        return await self._locked(select(Deposit).where(Deposit.callback_token == token))

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

    async def users_payments(
        self,
        model: type[Row],
        user_id: int,
        *,
        before_id: int | None,
        status: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> Sequence[Row]:
        """The user's deposits or withdrawals, newest first, in every state."""
        query = select(model).where(model.user_id == user_id).order_by(model.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(model.id < before_id)
        if status is not None:
            query = query.where(model.status == status)
        if since is not None:
            query = query.where(model.created_at >= since)
        if until is not None:
            query = query.where(model.created_at < until)
        return (await self.session.execute(query)).scalars().all()

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
                Deposit.created_at <= created_before,
                (Deposit.next_query_at.is_(None)) | (Deposit.next_query_at <= now),
            )
            .order_by(Deposit.id)
            .limit(100)
        )
        return list(result.scalars())

    async def withdrawals_to_query(self, updated_before: datetime, now: datetime) -> list[int]:
        """Every held payout still waiting for M-Pesa: pending ones (a worker may have died
        after sending), submitted ones whose result never came, and unknown outcomes."""
        result = await self.session.execute(
            select(Withdrawal.id)
            .where(
                Withdrawal.status.in_(QUERIED_WITHDRAWAL_STATUSES),
                Withdrawal.updated_at <= updated_before,
                (Withdrawal.next_query_at.is_(None)) | (Withdrawal.next_query_at <= now),
            )
            .order_by(Withdrawal.id)
            .limit(100)
        )
        return list(result.scalars())

    async def store_callback(
        self,
        kind: str,
        external_id: str,
        payload: str,
        source_ip: str | None,
        url_token: str | None,
    ) -> MpesaCallback | None:
        """Keep the raw body; None if this very body was stored before (a replay). A
        different body for the same payment is kept beside the first, never dropped."""
        callback = MpesaCallback(
            kind=kind,
            external_id=external_id[:64],
            payload_sha256=hashlib.sha256(payload.encode()).hexdigest(),
            payload=payload,
            url_token=url_token,
            source_ip=source_ip,
            flagged=False,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(callback)
        except IntegrityError:
            return None
        return callback

    async def callback(self, callback_id: int) -> MpesaCallback | None:
        return await self.session.get(MpesaCallback, callback_id, populate_existing=True)

    async def callbacks_for(self, kind: str, external_id: str) -> list[MpesaCallback]:
        result = await self.session.execute(
            select(MpesaCallback)
            .where(MpesaCallback.kind == kind, MpesaCallback.external_id == external_id[:64])
            .order_by(MpesaCallback.id)
        )
        return list(result.scalars())

    async def callbacks_with_token(self, kind: str, url_token: str) -> list[MpesaCallback]:
        result = await self.session.execute(
            select(MpesaCallback)
            .where(MpesaCallback.kind == kind, MpesaCallback.url_token == url_token)
            .order_by(MpesaCallback.id)
        )
        return list(result.scalars())

    async def unmatched_callbacks(
        self, kind: str, outcome: str, since: datetime
    ) -> list[MpesaCallback]:
        result = await self.session.execute(
            select(MpesaCallback)
            .where(
                MpesaCallback.kind == kind,
                MpesaCallback.outcome == outcome,
                MpesaCallback.received_at >= since,
            )
            .order_by(MpesaCallback.id)
            .limit(1000)
        )
        return list(result.scalars())

    async def deposits_in_review(self) -> list[Deposit]:
        result = await self.session.execute(
            select(Deposit)
            .where(Deposit.status == DepositStatus.NEEDS_REVIEW.value)
            .order_by(Deposit.id)
        )
        return list(result.scalars())

    async def withdrawals_in_review(self) -> list[Withdrawal]:
        result = await self.session.execute(
            select(Withdrawal)
            .where(Withdrawal.status == WithdrawalStatus.NEEDS_REVIEW.value)
            .order_by(Withdrawal.id)
        )
        return list(result.scalars())

    async def status_counts(self, statuses: Sequence[str]) -> dict[tuple[str, str], int]:
        """How many deposits and withdrawals are in each of ``statuses``, by
        (``deposit`` or ``withdrawal``, status); absent ones are not listed."""
        counts: dict[tuple[str, str], int] = {}
        for kind, model in (("deposit", Deposit), ("withdrawal", Withdrawal)):
            result = await self.session.execute(
                select(model.status, func.count())
                .where(model.status.in_(statuses))
                .group_by(model.status)
            )
            for status, count in result:
                counts[(kind, status)] = int(count)
        return counts

    async def flagged_callbacks(self, limit: int = 100) -> list[MpesaCallback]:
        result = await self.session.execute(
            select(MpesaCallback)
            .where(MpesaCallback.flagged.is_(True))
            .order_by(MpesaCallback.received_at.desc(), MpesaCallback.id.desc())
            .limit(limit)
        )
        return list(result.scalars())
