"""Withdrawals by M-Pesa B2C: hold, pay out, then complete or refund.

The amount moves from the wallet to pending withdrawals (committed, with our own
OriginatorConversationID and a random token for this payout's result URLs) before the
B2C request is sent. A payment is never sent twice: whatever its state, Transaction
Status on that OriginatorConversationID settles it. A Result callback is evidence, not
an order: it makes us ask Transaction Status at once, and only the answer (posted to a
URL holding a single-use token committed before the question) completes or refunds the
payout, unless the deployment trusts its address allow-list instead. "No such payment"
never refunds: after a few such answers the withdrawal waits for an operator.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import commit_durable_step
from gamehub.core.events import EventBus
from gamehub.core.idempotency import record_created
from gamehub.core.money import format_major, from_whole_major, to_major
from gamehub.core.mpesa.client import DarajaError, DarajaUnavailable
from gamehub.core.runtime import Runtime
from gamehub.models import Withdrawal
from gamehub.models.ledger import AccountKind, Category
from gamehub.models.payments import (
    HELD_WITHDRAWAL_STATUSES,
    QUERIED_WITHDRAWAL_STATUSES,
    WithdrawalStatus,
)
from gamehub.payments.errors import (
    DailyWithdrawalLimitReached,
    MalformedCallback,
    WithdrawalNotFound,
    WithdrawalOutOfRange,
)
from gamehub.payments.mpesa.callbacks import (
    CallbackFormatError,
    TransactionStatusResult,
    parse_b2c_result,
    parse_transaction_status_result,
)
from gamehub.payments.repository import PaymentRepository
from gamehub.payments.service.common import (
    ask_about_due,
    callback_url,
    flag_callback,
    logger,
    msisdn,
    new_token,
    next_query_at,
    notify,
    require_mpesa,
    token_matches,
    trusts_callbacks,
    whole_shillings,
)
from gamehub.protection.service import Protection
from gamehub.wallet.ledger import Ledger, Posting
from gamehub.wallet.taxes import Taxes, TaxRule, tax_postings

B2C_RESULT = "b2c_result"
B2C_TIMEOUT = "b2c_timeout"
STATUS_RESULT = "status_result"
WITHDRAWAL = "withdrawal"
AWAITING = "awaiting confirmation by Transaction Status"


async def start_withdrawal(
    session: AsyncSession, runtime: Runtime, user_id: int, amount_minor: int, phone: str
) -> tuple[Withdrawal, int]:
    """Hold the funds and send the payout (or, above the approval threshold, queue it for an
    operator); returns the withdrawal and the new balance."""
    require_mpesa(runtime)
    settings = runtime.settings
    # Refused before anything is held: M-Pesa moves whole shillings only.
    whole_shillings(amount_minor)
    number = msisdn(phone)
    if not settings.withdrawal_min_minor <= amount_minor <= settings.withdrawal_max_minor:
        raise WithdrawalOutOfRange(
            f"amount: withdrawals are {format_major(settings.withdrawal_min_minor)} to "
            f"{format_major(settings.withdrawal_max_minor)} {settings.currency}",
            minimum=to_major(settings.withdrawal_min_minor),
            maximum=to_major(settings.withdrawal_max_minor),
        )
    await Protection(session, runtime).check_withdrawal(user_id, number)
    now = runtime.clock.now()
    ledger = Ledger(session, runtime.events)
    # The wallet's row lock makes the daily-limit check and the hold one step.
    wallet = await ledger.wallet(user_id, settings.currency, for_update=True)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    already = await PaymentRepository(session).withdrawn_since(user_id, midnight)
    if already + amount_minor > settings.withdrawal_daily_limit_minor:
        raise DailyWithdrawalLimitReached(
            f"amount: over the daily withdrawal limit of "
            f"{format_major(settings.withdrawal_daily_limit_minor)} {settings.currency}",
            limit=to_major(settings.withdrawal_daily_limit_minor),
            remaining=to_major(max(0, settings.withdrawal_daily_limit_minor - already)),
        )
    originator_id = f"GHW-{uuid.uuid4().hex[:24]}"
    pending = await ledger.system_account(AccountKind.PENDING_WITHDRAWALS, settings.currency)
    # Charged on top: M-Pesa sends the whole shillings asked for.
    tax = Taxes.of(settings).on_withdrawal(amount_minor)
    hold = await ledger.post(
        Category.WITHDRAWAL,
        [
            Posting(wallet, -amount_minor - tax),
            Posting(pending, amount_minor),
            *await tax_postings(ledger, TaxRule.WITHDRAWAL, tax, settings.currency),
        ],
        reference=f"withdrawal-hold:{originator_id}",
        description="M-Pesa withdrawal",
    )
    awaits_approval = 0 < settings.withdrawal_approval_above_minor < amount_minor
    withdrawal = Withdrawal(
        user_id=user_id,
        amount=amount_minor,
        tax=tax,
        currency=settings.currency,
        phone=number,
        status=(
            WithdrawalStatus.AWAITING_APPROVAL if awaits_approval else WithdrawalStatus.PENDING
        ).value,
        originator_conversation_id=originator_id,
        hold_transaction_id=hold.id,
        query_attempts=0,
        callback_token=new_token(),
    )
    session.add(withdrawal)
    await session.flush()
    await record_created(session, WITHDRAWAL, withdrawal.id)
    balance = wallet.balance
    if awaits_approval:
        # M-Pesa hears nothing until an operator approves (send_approved); the request's
        # own commit keeps the hold and the queue's row together.
        notify(session, runtime, withdrawal)
        return withdrawal, balance
    # The hold, the OriginatorConversationID M-Pesa will know the payout by, and the
    # Idempotency-Key bound to it are durable before any money can leave.
    await commit_durable_step(session, "the withdrawal is on record before M-Pesa hears of it")
    sent, refunded_balance = await _pay_out(session, runtime, withdrawal)
    return sent, balance if refunded_balance is None else refunded_balance


async def send_approved(
    session: AsyncSession, runtime: Runtime, withdrawal: Withdrawal
) -> Withdrawal:
    """Send a withdrawal an operator has just approved (its status set to pending, not yet
    committed), exactly as a withdrawal under the threshold is sent: the approval, and the
    audit row the caller wrote beside it, are committed before M-Pesa hears of the payout,
    so that a worker dying after this point leaves a pending payout for the reconciler."""
    await commit_durable_step(session, "the approval is on record before M-Pesa hears of it")
    sent, _ = await _pay_out(session, runtime, withdrawal)
    return sent


async def _pay_out(
    session: AsyncSession, runtime: Runtime, withdrawal: Withdrawal
) -> tuple[Withdrawal, int | None]:
    """Send the committed, pending payout and record M-Pesa's answer; the wallet's new
    balance when M-Pesa refused it at once (and it was refunded), else None."""
    status, code, description, conversation_id = await _send(
        runtime, withdrawal, whole_shillings(withdrawal.amount)
    )
    locked = await PaymentRepository(session).withdrawal_for_update(withdrawal.id)
    assert locked is not None
    if locked.status != WithdrawalStatus.PENDING.value:
        # The result (and its confirmation) was faster than this bookkeeping.
        return locked, None
    locked.conversation_id = conversation_id
    refunded_balance = None
    if status is WithdrawalStatus.FAILED:
        refunded_balance = await refund(session, runtime.events, locked, code, description)
    else:
        locked.status = status.value
        locked.result_code = code
        locked.result_desc = description
    await session.flush()
    notify(session, runtime, locked)
    return locked, refunded_balance


async def users_withdrawal(session: AsyncSession, user_id: int, withdrawal_id: int) -> Withdrawal:
    """One of the user's withdrawals; another user's is as absent as one that never was."""
    withdrawal = await PaymentRepository(session).users_withdrawal(user_id, withdrawal_id)
    if withdrawal is None:
        raise WithdrawalNotFound()
    return withdrawal


async def _send(
    runtime: Runtime, withdrawal: Withdrawal, shillings: int
) -> tuple[WithdrawalStatus, str | None, str | None, str | None]:
    assert runtime.mpesa is not None
    assert withdrawal.callback_token is not None
    settings = runtime.settings
    try:
        accepted = await runtime.mpesa.b2c_payment(
            withdrawal.originator_conversation_id,
            shillings,
            withdrawal.phone,
            remarks="Game Hub withdrawal",
            occasion=f"W{withdrawal.id}",
            result_url=callback_url(settings, "b2c", "result", withdrawal.callback_token),
            timeout_url=callback_url(settings, "b2c", "timeout", withdrawal.callback_token),
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


async def refund(
    session: AsyncSession,
    events: EventBus,
    withdrawal: Withdrawal,
    code: str | None,
    description: str | None,
) -> int:
    """Return the held amount, and the tax charged on it, to the wallet (once: the
    reference is unique)."""
    ledger = Ledger(session, events)
    pending = await ledger.system_account(AccountKind.PENDING_WITHDRAWALS, withdrawal.currency)
    wallet = await ledger.wallet(withdrawal.user_id, withdrawal.currency)
    transaction = await ledger.post(
        Category.REFUND,
        [
            Posting(pending, -withdrawal.amount),
            Posting(wallet, withdrawal.amount + withdrawal.tax),
            *await tax_postings(ledger, TaxRule.WITHDRAWAL, -withdrawal.tax, withdrawal.currency),
        ],
        reference=f"withdrawal-refund:{withdrawal.originator_conversation_id}",
        description="Withdrawal refunded",
    )
    withdrawal.status = WithdrawalStatus.FAILED.value
    withdrawal.status_token = None
    withdrawal.result_code = None if code is None else code[:32]
    withdrawal.result_desc = None if description is None else description[:255]
    withdrawal.settle_transaction_id = transaction.id
    withdrawal.completed_at = datetime.now(UTC)
    return wallet.balance


async def complete_payout(
    session: AsyncSession, withdrawal: Withdrawal, receipt: str | None
) -> None:
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
    withdrawal.status_token = None
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
        await refund(session, runtime.events, withdrawal, code, description)
        notify(session, runtime, withdrawal)
        return f"refunded ({code})"
    if amount_kes is not None and from_whole_major(amount_kes) != withdrawal.amount:
        return to_review(
            withdrawal, f"M-Pesa reports KES {amount_kes} for {withdrawal.amount} minor units"
        )
    await complete_payout(session, withdrawal, receipt)
    notify(session, runtime, withdrawal)
    return "completed"


def to_review(withdrawal: Withdrawal, why: str) -> str:
    """Hold the funds and hand the payout to an operator (``gamehub payments review``)."""
    withdrawal.status = WithdrawalStatus.NEEDS_REVIEW.value
    withdrawal.status_token = None
    withdrawal.result_desc = why[:255]
    logger.warning(
        "withdrawal %s (%s) needs review: %s",
        withdrawal.id,
        withdrawal.originator_conversation_id,
        why,
    )
    return f"needs review: {why}"[:255]


async def handle_b2c_callback(
    session: AsyncSession,
    runtime: Runtime,
    raw: bytes,
    source_ip: str | None,
    token: str,
    *,
    timed_out: bool,
) -> str:
    try:
        result = parse_b2c_result(raw)
    except CallbackFormatError as exc:
        logger.warning("malformed B2C callback from %s: %s", source_ip, exc)
        raise MalformedCallback(f"Not a Daraja result: {exc}") from exc
    kind = B2C_TIMEOUT if timed_out else B2C_RESULT
    repo = PaymentRepository(session)
    stored = await repo.store_callback(
        kind, result.originator_conversation_id, raw.decode(errors="replace"), source_ip, token
    )
    if stored is None:
        return "duplicate"
    withdrawal = await repo.withdrawal_by_originator_for_update(result.originator_conversation_id)
    if withdrawal is None:
        return flag_callback(stored, "unmatched: no withdrawal has this id", source_ip)
    if not token_matches(token, withdrawal.callback_token):
        return flag_callback(stored, "forged: not this withdrawal's callback token", source_ip)
    if timed_out:
        # Not a failure: the payment may have gone through. Ask, never re-send.
        if withdrawal.status in QUERIED_WITHDRAWAL_STATUSES:
            withdrawal.status = WithdrawalStatus.UNKNOWN.value
            withdrawal.result_code = result.result_code[:32]
            withdrawal.result_desc = result.result_desc[:255]
            withdrawal.next_query_at = None
        stored.outcome = "timed out: outcome unknown"
        return stored.outcome
    if trusts_callbacks(runtime.settings):
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
    if withdrawal.status not in HELD_WITHDRAWAL_STATUSES:
        # Settled already on M-Pesa's own word; a body that disagrees is flagged.
        if result.succeeded != (withdrawal.status == WithdrawalStatus.COMPLETED.value):
            conflict = f"conflict: says {result.result_code}, it is {withdrawal.status}"
            return flag_callback(stored, conflict, source_ip)
        stored.outcome = f"already {withdrawal.status}"
        return stored.outcome
    stored.outcome = AWAITING
    await ask_status(session, runtime, withdrawal.id, runtime.clock.now(), from_callback=True)
    return AWAITING


async def handle_status_callback(
    session: AsyncSession,
    runtime: Runtime,
    withdrawal_id: int,
    token: str,
    raw: bytes,
    source_ip: str | None,
) -> str:
    """A Transaction Status answer about one withdrawal, accepted only with the single-use
    token of the question it answers."""
    try:
        result = parse_transaction_status_result(raw)
    except CallbackFormatError as exc:
        logger.warning("malformed Transaction Status result from %s: %s", source_ip, exc)
        raise MalformedCallback(f"Not a Daraja result: {exc}") from exc
    repo = PaymentRepository(session)
    withdrawal = await repo.withdrawal_for_update(withdrawal_id)
    external_id = (
        result.originator_conversation_id
        if withdrawal is None
        else withdrawal.originator_conversation_id
    )
    stored = await repo.store_callback(
        STATUS_RESULT, external_id, raw.decode(errors="replace"), source_ip, token
    )
    if stored is None:
        return "duplicate"
    if withdrawal is None:
        return flag_callback(stored, f"unmatched: no withdrawal {withdrawal_id}", source_ip)
    if not token_matches(token, withdrawal.status_token):
        stale = "forged or stale: no open question has this token"
        return flag_callback(stored, stale, source_ip)
    # Single use: a replay of this answer, or a forgery of it, finds no token.
    withdrawal.status_token = None
    looked_up = result.transaction_originator_conversation_id
    if looked_up is not None and looked_up != withdrawal.originator_conversation_id:
        return flag_callback(stored, f"unmatched: it describes {looked_up}", source_ip)
    stored.outcome = await _apply_status(session, runtime, withdrawal, result)
    await _judge_results(repo, withdrawal)
    return stored.outcome


async def _apply_status(
    session: AsyncSession,
    runtime: Runtime,
    withdrawal: Withdrawal,
    result: TransactionStatusResult,
) -> str:
    if withdrawal.status not in HELD_WITHDRAWAL_STATUSES:
        return f"already {withdrawal.status}"
    if not result.succeeded:
        # M-Pesa has no record of the payment (or could not look). That is not proof it
        # was never paid: ask again, and after a few such answers let a person decide.
        if withdrawal.query_attempts >= runtime.settings.mpesa_status_not_found_attempts:
            return to_review(
                withdrawal,
                f"M-Pesa found no such payment {withdrawal.query_attempts} times "
                f"({result.result_code})",
            )
        return f"not found ({result.result_code}); will ask again"
    if result.completed:
        return await finish_withdrawal(
            session,
            runtime,
            withdrawal,
            succeeded=True,
            code="0",
            description=result.result_desc,
            receipt=result.receipt_no,
            amount_kes=result.amount_kes,
        )
    if result.transaction_status == "Failed":
        # Transaction Status says only "Failed"; the why is in M-Pesa's own Result, if one
        # with this payout's token agrees.
        code, description = "failed", result.result_desc
        for stored in await PaymentRepository(session).callbacks_for(
            B2C_RESULT, withdrawal.originator_conversation_id
        ):
            said = parse_b2c_result(stored.payload)
            own = token_matches(stored.url_token or "", withdrawal.callback_token)
            if own and not stored.flagged and not said.succeeded:
                code, description = said.result_code, said.result_desc
        return await finish_withdrawal(
            session,
            runtime,
            withdrawal,
            succeeded=False,
            code=code,
            description=description,
            receipt=None,
            amount_kes=None,
        )
    return f"still {result.transaction_status}; will ask again"


async def _judge_results(repo: PaymentRepository, withdrawal: Withdrawal) -> None:
    """Flag every B2C result for this payout that contradicts how it was settled."""
    if withdrawal.status not in (WithdrawalStatus.COMPLETED.value, WithdrawalStatus.FAILED.value):
        return
    paid = withdrawal.status == WithdrawalStatus.COMPLETED.value
    for stored in await repo.callbacks_for(B2C_RESULT, withdrawal.originator_conversation_id):
        if stored.flagged:
            continue
        said = parse_b2c_result(stored.payload)
        if said.succeeded != paid:
            flag_callback(
                stored,
                f"conflict: says {said.result_code}, M-Pesa says {withdrawal.status}",
                stored.source_ip,
            )
        else:
            stored.outcome = withdrawal.status


async def reconcile_withdrawals(runtime: Runtime, now: datetime | None = None) -> int:
    """Ask Transaction Status about every held payout still without an answer; returns how
    many questions were sent. Nothing is ever paid out twice."""
    return await ask_about_due(runtime, PaymentRepository.withdrawals_to_query, ask_status, now)


async def ask_status(
    session: AsyncSession,
    runtime: Runtime,
    withdrawal_id: int,
    now: datetime,
    *,
    from_callback: bool = False,
) -> int:
    """Send one Transaction Status question, its single-use token committed first."""
    assert runtime.mpesa is not None
    # A callback may ask about a payout in review (its answer can still settle it); the
    # reconciler asks only about those waiting for M-Pesa.
    askable = HELD_WITHDRAWAL_STATUSES if from_callback else QUERIED_WITHDRAWAL_STATUSES
    withdrawal = await PaymentRepository(session).withdrawal_for_update(withdrawal_id)
    if withdrawal is None or withdrawal.status not in askable:
        return 0
    originator_id = withdrawal.originator_conversation_id
    withdrawal.next_query_at = next_query_at(now, withdrawal.query_attempts)
    withdrawal.query_attempts += 1
    token = withdrawal.status_token = new_token()
    await commit_durable_step(session, "the question's single-use token is kept before it is asked")
    settings = runtime.settings
    where = (str(withdrawal_id), token)
    try:
        await runtime.mpesa.transaction_status(
            originator_conversation_id=originator_id,
            result_url=callback_url(settings, "status", "result", *where),
            timeout_url=callback_url(settings, "status", "timeout", *where),
        )
    except (DarajaError, DarajaUnavailable) as exc:
        logger.warning("Transaction Status for withdrawal %s failed: %s", withdrawal_id, exc)
        return 0
    return 1
