"""The approval queue: a withdrawal above GAMEHUB_WITHDRAWAL_APPROVAL_ABOVE_MINOR is held
at request time, as any other, and waits in awaiting_approval. M-Pesa never hears of it
until a finance operator approves it; a rejection refunds it through the ledger.

Each decision locks the withdrawal's row and acts only on one still awaiting approval, so
two approvals, or an approval racing a rejection, act once: the second finds it decided.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.runtime import Runtime
from gamehub.models import Withdrawal
from gamehub.models.payments import WithdrawalStatus
from gamehub.payments.errors import NotAwaitingApproval, PaymentNotFound
from gamehub.payments.repository import PaymentRepository
from gamehub.payments.service.common import logger, notify, require_mpesa
from gamehub.payments.service.withdrawals import refund

REJECTED_CODE = "rejected"


async def _awaiting(session: AsyncSession, withdrawal_id: int) -> Withdrawal:
    withdrawal = await PaymentRepository(session).withdrawal_for_update(withdrawal_id)
    if withdrawal is None:
        raise PaymentNotFound(f"No withdrawal {withdrawal_id}")
    if withdrawal.status != WithdrawalStatus.AWAITING_APPROVAL.value:
        raise NotAwaitingApproval(
            f"Withdrawal {withdrawal_id} is {withdrawal.status}, not awaiting approval"
        )
    return withdrawal


async def approve_withdrawal(
    session: AsyncSession, runtime: Runtime, withdrawal_id: int
) -> Withdrawal:
    """Mark the withdrawal approved (pending, as one under the threshold is before its B2C
    request), locked and not yet committed: the caller writes its audit row, then sends it
    with :func:`~gamehub.payments.service.withdrawals.send_approved`."""
    require_mpesa(runtime)
    withdrawal = await _awaiting(session, withdrawal_id)
    withdrawal.status = WithdrawalStatus.PENDING.value
    await session.flush()
    return withdrawal


async def reject_withdrawal(
    session: AsyncSession, runtime: Runtime, withdrawal_id: int, *, reason: str, actor: str
) -> Withdrawal:
    """Return the held amount to the wallet, once; the player sees it failed, and why."""
    withdrawal = await _awaiting(session, withdrawal_id)
    await refund(
        session,
        runtime.events,
        withdrawal,
        REJECTED_CODE,
        f"rejected by {actor}: {reason.strip()}",
    )
    notify(session, runtime, withdrawal)
    logger.warning("withdrawal %s rejected by %s: %s", withdrawal_id, actor, reason)
    return withdrawal
