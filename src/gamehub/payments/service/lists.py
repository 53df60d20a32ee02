"""What the player asks of their payments: the lists of their deposits and withdrawals."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.pagination import Window, next_cursor, unknown_value
from gamehub.models import Deposit, Withdrawal
from gamehub.models.payments import DepositStatus, WithdrawalStatus
from gamehub.payments.repository import PaymentRepository, Row

_STATUSES: dict[type[Deposit] | type[Withdrawal], list[str]] = {
    Deposit: [s.value for s in DepositStatus],
    Withdrawal: [s.value for s in WithdrawalStatus],
}


class Payments:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = PaymentRepository(session)

    async def listed(
        self, model: type[Row], user_id: int, page: Window, status: str | None
    ) -> tuple[list[Row], str | None]:
        """A page of the user's own deposits or withdrawals, newest first, pending and
        failed ones included, and the next page's cursor."""
        if status is not None and status not in _STATUSES[model]:
            raise unknown_value("status", _STATUSES[model])
        rows = await self.repo.users_payments(
            model,
            user_id,
            before_id=page.after,
            status=status,
            since=page.since,
            until=page.until,
            limit=page.limit + 1,
        )
        shown = list(rows[: page.limit])
        return shown, next_cursor(len(rows), page.limit, shown[-1].id if shown else None)
