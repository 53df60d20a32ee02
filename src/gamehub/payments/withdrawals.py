"""Withdrawals by M-Pesa B2C: hold, pay out, then complete or refund.

The amount moves from the wallet to pending withdrawals (committed) before the B2C
request is sent with our own OriginatorConversationID. The Result callback completes
the payout or refunds it. A payment whose outcome is unknown (a queue time-out, a lost
answer, an internal error) is never sent again: Transaction Status settles it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import checkpoint
from gamehub.core.runtime import Runtime
from gamehub.errors import BadRequest, ValidationFailed
from gamehub.models import Withdrawal
from gamehub.models.ledger import AccountKind, Category
from gamehub.models.payments import HELD_WITHDRAWAL_STATUSES, WithdrawalStatus
from gamehub.payments.common import (
    ask_about_due,
    callback_url,
    logger,
    msisdn,
    next_query_at,
    notify,
    require_mpesa,
    whole_shillings,
)
from gamehub.payments.mpesa.callbacks import (
    CallbackFormatError,
    parse_b2c_result,
    parse_transaction_status_result,
)
from gamehub.payments.mpesa.client import DarajaError, DarajaUnavailable
from gamehub.payments.repository import PaymentRepository
from gamehub.wallet.ledger import Ledger, Posting

B2C_RESULT = "b2c_result"
B2C_TIMEOUT = "b2c_timeout"
STATUS_RESULT = "status_result"
# "No such transaction" answers believed only after this many questions.
STATUS_NOT_FOUND_ATTEMPTS = 3


async def start_withdrawal(
    session: AsyncSession, runtime: Runtime, user_id: int, amount_minor: int, phone: str
) -> tuple[Withdrawal, int]:
    """Hold the funds and send the payout; returns the withdrawal and the new balance."""
    require_mpesa(runtime)
    settings = runtime.settings
    shillings = whole_shillings(amount_minor)
    number = msisdn(phone)
    if not settings.withdrawal_min_minor <= amount_minor <= settings.withdrawal_max_minor:
        raise ValidationFailed(
            f"amount: withdrawals are {settings.withdrawal_min_minor / 100:.2f} to "
            f"{settings.withdrawal_max_minor / 100:.2f} {settings.currency}"
        )
    now = datetime.now(UTC)
    ledger = Ledger(session)
    # The wallet's row lock makes the daily-limit check and the hold one step.
    wallet = await ledger.wallet(user_id, settings.currency, for_update=True)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    already = await PaymentRepository(session).withdrawn_since(user_id, midnight)
    if already + amount_minor > settings.withdrawal_daily_limit_minor:
        raise ValidationFailed(
            f"amount: over the daily withdrawal limit of "
            f"{settings.withdrawal_daily_limit_minor / 100:.2f} {settings.currency}"
        )
    originator_id = f"GHW-{uuid.uuid4().hex[:24]}"
    pending = await ledger.system_account(AccountKind.PENDING_WITHDRAWALS, settings.currency)
    hold = await ledger.post(
        Category.WITHDRAWAL,
        [Posting(wallet, -amount_minor), Posting(pending, amount_minor)],
        reference=f"withdrawal-hold:{originator_id}",
        description="M-Pesa withdrawal",
    )
    withdrawal = Withdrawal(
        user_id=user_id,
        amount=amount_minor,
        currency=settings.currency,
        phone=number,
        status=WithdrawalStatus.PENDING.value,
        originator_conversation_id=originator_id,
        hold_transaction_id=hold.id,
        query_attempts=0,
    )
    session.add(withdrawal)
    balance = wallet.balance
    # The hold is durable before any money can leave.
    await checkpoint(session)

    status, code, description, conversation_id = await _send(runtime, withdrawal, shillings)
    locked = await PaymentRepository(session).withdrawal_for_update(withdrawal.id)
    assert locked is not None
    if locked.status != WithdrawalStatus.PENDING.value:
        # The result callback was faster than this bookkeeping.
        return locked, balance
    locked.conversation_id = conversation_id
    if status is WithdrawalStatus.FAILED:
        balance = await _refund(session, locked, code, description)
    else:
        locked.status = status.value
        locked.result_code = code
        locked.result_desc = description
    await session.flush()
    notify(session, runtime, locked, balance)
    return locked, balance


async def _send(
    runtime: Runtime, withdrawal: Withdrawal, shillings: int
) -> tuple[WithdrawalStatus, str | None, str | None, str | None]:
    assert runtime.mpesa is not None
    settings = runtime.settings
    try:
        accepted = await runtime.mpesa.b2c_payment(
            withdrawal.originator_conversation_id,
            shillings,
            withdrawal.phone,
            remarks="Game Hub withdrawal",
            occasion=f"W{withdrawal.id}",
            result_url=callback_url(settings, "b2c", "result"),
            timeout_url=callback_url(settings, "b2c", "timeout"),
        )
    except DarajaError as exc:
        if exc.duplicate_request:
            return WithdrawalStatus.SUBMITTED, None, None, None
        if exc.outcome_unknown:
            return WithdrawalStatus.UNKNOWN, exc.error_code, exc.error_message, None
        return WithdrawalStatus.FAILED, exc.error_code, exc.error_message, None
    except DarajaUnavailable as exc:
        logger.warning("B2C for withdrawal %s: outcome unknown: %s", withdrawal.id, exc)
        return WithdrawalStatus.UNKNOWN, "unavailable", "M-Pesa's answer was lost", None
    return WithdrawalStatus.SUBMITTED, None, None, accepted.conversation_id


async def _refund(
    session: AsyncSession, withdrawal: Withdrawal, code: str | None, description: str | None
) -> int:
    ledger = Ledger(session)
    pending = await ledger.system_account(AccountKind.PENDING_WITHDRAWALS, withdrawal.currency)
    wallet = await ledger.wallet(withdrawal.user_id, withdrawal.currency)
    transaction = await ledger.post(
        Category.REFUND,
        [Posting(pending, -withdrawal.amount), Posting(wallet, withdrawal.amount)],
        reference=f"withdrawal-refund:{withdrawal.originator_conversation_id}",
        description="Withdrawal refunded",
    )
    withdrawal.status = WithdrawalStatus.FAILED.value
    withdrawal.result_code = None if code is None else code[:32]
    withdrawal.result_desc = None if description is None else description[:255]
    withdrawal.settle_transaction_id = transaction.id
    withdrawal.completed_at = datetime.now(UTC)
    return wallet.balance


async def _complete(session: AsyncSession, withdrawal: Withdrawal, receipt: str | None) -> None:
    ledger = Ledger(session)
    pending = await ledger.system_account(AccountKind.PENDING_WITHDRAWALS, withdrawal.currency)
    clearing = await ledger.system_account(AccountKind.MPESA_CLEARING, withdrawal.currency)
    transaction = await ledger.post(
        Category.WITHDRAWAL_PAYOUT,
        [Posting(pending, -withdrawal.amount), Posting(clearing, withdrawal.amount)],
        reference=f"withdrawal-payout:{withdrawal.originator_conversation_id}",
        description=f"M-Pesa payout {receipt or ''}".strip(),
    )
    withdrawal.status = WithdrawalStatus.COMPLETED.value
    withdrawal.mpesa_receipt = receipt
    withdrawal.result_code = "0"
    withdrawal.settle_transaction_id = transaction.id
    withdrawal.completed_at = datetime.now(UTC)


async def finish_withdrawal(
    session: AsyncSession,
    runtime: Runtime,
    withdrawal: Withdrawal,
    *,
    succeeded: bool,
    code: str,
    description: str,
    receipt: str | None,
    amount_kes: int | None,
) -> str:
    """Complete or refund a held withdrawal (locked by the caller), exactly once."""
    if withdrawal.status not in HELD_WITHDRAWAL_STATUSES:
        return f"already {withdrawal.status}"
    if not succeeded:
        balance = await _refund(session, withdrawal, code, description)
        notify(session, runtime, withdrawal, balance)
        return f"refunded ({code})"
    if amount_kes is not None and amount_kes * 100 != withdrawal.amount:
        logger.warning(
            "withdrawal %s: M-Pesa reports KES %s for %s minor units; asking Transaction Status",
            withdrawal.id,
            amount_kes,
            withdrawal.amount,
        )
        withdrawal.status = WithdrawalStatus.UNKNOWN.value
        return "amount mismatch: left for reconciliation"
    await _complete(session, withdrawal, receipt)
    notify(session, runtime, withdrawal)
    return "completed"


async def handle_b2c_callback(
    runtime: Runtime, raw: bytes, source_ip: str | None, *, timed_out: bool
) -> str:
    try:
        result = parse_b2c_result(raw)
    except CallbackFormatError as exc:
        logger.warning("malformed B2C callback from %s: %s", source_ip, exc)
        raise BadRequest(f"Not a Daraja result: {exc}") from exc
    kind = B2C_TIMEOUT if timed_out else B2C_RESULT
    async with runtime.db.unit_of_work() as session:
        repo = PaymentRepository(session)
        stored = await repo.store_callback(
            kind, result.originator_conversation_id, raw.decode(errors="replace"), source_ip
        )
        if stored is None:
            return "duplicate"
        withdrawal = await repo.withdrawal_by_originator_for_update(
            result.originator_conversation_id
        )
        if withdrawal is None:
            logger.warning(
                "B2C %s for unknown OriginatorConversationID %s from %s",
                kind,
                result.originator_conversation_id,
                source_ip,
            )
            stored.outcome = "unmatched"
            return stored.outcome
        if timed_out:
            # Not a failure: the payment may have gone through. Ask, never re-send.
            if withdrawal.status in HELD_WITHDRAWAL_STATUSES:
                withdrawal.status = WithdrawalStatus.UNKNOWN.value
                withdrawal.result_code = result.result_code[:32]
                withdrawal.result_desc = result.result_desc[:255]
                withdrawal.next_query_at = None
            stored.outcome = "timed out: outcome unknown"
            return stored.outcome
        stored.outcome = await finish_withdrawal(
            session,
            runtime,
            withdrawal,
            succeeded=result.succeeded,
            code=result.result_code,
            description=result.result_desc,
            receipt=result.receipt or (result.transaction_id if result.succeeded else None),
            amount_kes=result.amount_kes,
        )
        return stored.outcome


async def handle_status_callback(
    runtime: Runtime, withdrawal_id: int, raw: bytes, source_ip: str | None
) -> str:
    """A Transaction Status answer about one withdrawal (named in the ResultURL)."""
    try:
        result = parse_transaction_status_result(raw)
    except CallbackFormatError as exc:
        logger.warning("malformed Transaction Status result from %s: %s", source_ip, exc)
        raise BadRequest(f"Not a Daraja result: {exc}") from exc
    async with runtime.db.unit_of_work() as session:
        repo = PaymentRepository(session)
        stored = await repo.store_callback(
            STATUS_RESULT,
            result.originator_conversation_id,
            raw.decode(errors="replace"),
            source_ip,
        )
        if stored is None:
            return "duplicate"
        withdrawal = await repo.withdrawal_for_update(withdrawal_id)
        looked_up = result.transaction_originator_conversation_id
        if withdrawal is None or (
            looked_up is not None and looked_up != withdrawal.originator_conversation_id
        ):
            stored.outcome = "unmatched"
            logger.warning(
                "Transaction Status result for withdrawal %s does not match", withdrawal_id
            )
            return stored.outcome
        if not result.succeeded:
            # M-Pesa has no record of the payment. Ask a few times before believing it.
            if withdrawal.query_attempts < STATUS_NOT_FOUND_ATTEMPTS:
                stored.outcome = f"not found ({result.result_code}); will ask again"
                return stored.outcome
            stored.outcome = await finish_withdrawal(
                session,
                runtime,
                withdrawal,
                succeeded=False,
                code=result.result_code,
                description="M-Pesa has no record of this payment",
                receipt=None,
                amount_kes=None,
            )
            return stored.outcome
        stored.outcome = await finish_withdrawal(
            session,
            runtime,
            withdrawal,
            succeeded=result.completed,
            code="0" if result.completed else (result.transaction_status or "failed"),
            description=result.result_desc,
            receipt=result.receipt_no,
            amount_kes=result.amount_kes,
        )
        return stored.outcome


async def reconcile_withdrawals(runtime: Runtime, now: datetime | None = None) -> int:
    """Ask Transaction Status about unknown outcomes and results that never came;
    returns how many questions were sent. Nothing is ever paid out twice."""
    return await ask_about_due(runtime, PaymentRepository.withdrawals_to_query, _ask_status, now)


async def _ask_status(runtime: Runtime, withdrawal_id: int, now: datetime) -> int:
    assert runtime.mpesa is not None
    async with runtime.db.unit_of_work() as session:
        withdrawal = await PaymentRepository(session).withdrawal_for_update(withdrawal_id)
        if withdrawal is None or withdrawal.status not in HELD_WITHDRAWAL_STATUSES:
            return 0
        originator_id = withdrawal.originator_conversation_id
        withdrawal.next_query_at = next_query_at(now, withdrawal.query_attempts)
        withdrawal.query_attempts += 1
    settings = runtime.settings
    try:
        await runtime.mpesa.transaction_status(
            originator_conversation_id=originator_id,
            result_url=callback_url(settings, "status", "result", str(withdrawal_id)),
            timeout_url=callback_url(settings, "status", "timeout", str(withdrawal_id)),
        )
    except (DarajaError, DarajaUnavailable) as exc:
        logger.warning("Transaction Status for withdrawal %s failed: %s", withdrawal_id, exc)
        return 0
    return 1
