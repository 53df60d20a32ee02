"""Payments that wait for a person: what `gamehub payments review` lists, and how an
operator settles one (`gamehub payments resolve`), through the ledger, exactly once.

Nothing here guesses. A withdrawal M-Pesa keeps saying it has no record of may still have
been paid, and a deposit that never got an answer may still have been charged: the
operator checks the M-Pesa statement (or the customer's SMS) and records what it says.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.runtime import Runtime
from gamehub.errors import ValidationError
from gamehub.models import Deposit, MpesaCallback, Withdrawal
from gamehub.models.payments import DepositStatus, WithdrawalStatus
from gamehub.payments.errors import NotForReview, PaymentNotFound
from gamehub.payments.repository import PaymentRepository
from gamehub.payments.service.common import logger, notify
from gamehub.payments.service.deposits import credit_deposit
from gamehub.payments.service.withdrawals import complete_payout, refund

# What an operator may settle: a deposit that expired may have been charged after all.
RESOLVABLE_DEPOSITS = (DepositStatus.NEEDS_REVIEW.value, DepositStatus.EXPIRED.value)
# And a withdrawal whose answer was lost: an operator who has the M-Pesa statement need not
# wait for the reconciler's questions.
RESOLVABLE_WITHDRAWALS = (WithdrawalStatus.NEEDS_REVIEW.value, WithdrawalStatus.UNKNOWN.value)
RESOLVED_CODE = "resolved"


@dataclass(frozen=True, slots=True)
class ReviewList:
    deposits: list[Deposit]
    withdrawals: list[Withdrawal]
    callbacks: list[MpesaCallback]


async def review_list(session: AsyncSession) -> ReviewList:
    repo = PaymentRepository(session)
    return ReviewList(
        deposits=await repo.deposits_in_review(),
        withdrawals=await repo.withdrawals_in_review(),
        callbacks=await repo.flagged_callbacks(),
    )


def _record(reason: str, actor: str, paid: bool) -> tuple[str, str]:
    reason = reason.strip()
    if not reason:
        raise ValidationError.of("reason", "say why (what the M-Pesa statement shows)")
    verdict = "paid" if paid else "not paid"
    return RESOLVED_CODE, f"resolved as {verdict} by {actor}: {reason}"[:255]


async def resolve_withdrawal(
    session: AsyncSession,
    runtime: Runtime,
    withdrawal_id: int,
    *,
    paid: bool,
    reason: str,
    actor: str,
    receipt: str | None = None,
) -> Withdrawal:
    """Paid: the held amount goes out to M-Pesa clearing. Not paid: it goes back to the
    wallet. Either way once: the row lock and the status check make a second call fail."""
    code, description = _record(reason, actor, paid)
    withdrawal = await PaymentRepository(session).withdrawal_for_update(withdrawal_id)
    if withdrawal is None:
        raise PaymentNotFound(f"No withdrawal {withdrawal_id}")
    if withdrawal.status not in RESOLVABLE_WITHDRAWALS:
        raise NotForReview(f"Withdrawal {withdrawal_id} is {withdrawal.status}, not in review")
    if paid:
        await complete_payout(session, withdrawal, receipt)
    else:
        await refund(session, runtime.events, withdrawal, code, description)
    withdrawal.result_code = code
    withdrawal.result_desc = description
    notify(session, runtime, withdrawal)
    logger.warning("withdrawal %s %s", withdrawal_id, description)
    return withdrawal


async def resolve_deposit(
    session: AsyncSession,
    runtime: Runtime,
    deposit_id: int,
    *,
    paid: bool,
    reason: str,
    actor: str,
    receipt: str | None = None,
) -> Deposit:
    """Paid: the wallet is credited. Not paid: the deposit fails. Either way once."""
    code, description = _record(reason, actor, paid)
    deposit = await PaymentRepository(session).deposit_for_update(deposit_id)
    if deposit is None:
        raise PaymentNotFound(f"No deposit {deposit_id}")
    if deposit.status not in RESOLVABLE_DEPOSITS:
        raise NotForReview(f"Deposit {deposit_id} is {deposit.status}, not in review")
    if paid:
        await credit_deposit(
            session, runtime, deposit, receipt or deposit.mpesa_receipt, description
        )
    else:
        deposit.status = DepositStatus.FAILED.value
    deposit.result_code = code
    deposit.result_desc = description
    deposit.settled_at = runtime.clock.now()
    notify(session, runtime, deposit)
    logger.warning("deposit %s %s", deposit_id, description)
    return deposit
