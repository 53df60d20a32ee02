"""Deposits by M-Pesa STK push: request, callback, and reconciliation by STK query.

The deposit row is committed before the push is sent, and the push's CheckoutRequestID
after it is accepted. A callback is stored raw first (once per CheckoutRequestID) and
settles the deposit under its row lock, so a payment credits exactly once whatever
arrives twice, late, early or never: a callback that beats the CheckoutRequestID into
the database is applied when the id is recorded, and the reconciler asks M-Pesa about
anything still pending.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import checkpoint
from gamehub.core.runtime import Runtime
from gamehub.errors import BadRequest, ServiceUnavailable
from gamehub.models import Deposit, MpesaCallback
from gamehub.models.ledger import AccountKind, Category
from gamehub.models.payments import DepositStatus
from gamehub.payments.common import (
    PaymentProviderError,
    ask_about_due,
    callback_url,
    logger,
    msisdn,
    next_query_at,
    notify,
    require_mpesa,
    whole_shillings,
)
from gamehub.payments.mpesa.callbacks import CallbackFormatError, parse_stk_callback
from gamehub.payments.mpesa.client import DarajaError, DarajaUnavailable, StkPending
from gamehub.payments.repository import PaymentRepository
from gamehub.wallet.ledger import Ledger, Posting

STK = "stk"
SUCCESS = "0"
UNMATCHED = "unmatched: no deposit has this CheckoutRequestID (yet)"


async def start_deposit(
    session: AsyncSession, runtime: Runtime, user_id: int, amount_minor: int, phone: str
) -> Deposit:
    client = require_mpesa(runtime)
    shillings = whole_shillings(amount_minor)
    number = msisdn(phone)
    repo = PaymentRepository(session)
    deposit = Deposit(
        user_id=user_id,
        amount=amount_minor,
        currency=runtime.settings.currency,
        phone=number,
        status=DepositStatus.PENDING.value,
        query_attempts=0,
    )
    session.add(deposit)
    # On record before M-Pesa hears of it.
    await checkpoint(session)
    try:
        accepted = await client.stk_push(
            shillings,
            number,
            account_reference=f"GH{deposit.id}"[:12],
            description="Deposit",
            callback_url=callback_url(runtime.settings, STK),
        )
    except DarajaError as exc:
        _fail(deposit, exc.error_code, exc.error_message)
        await checkpoint(session)
        raise PaymentProviderError(f"M-Pesa refused the request: {exc.error_message}") from exc
    except DarajaUnavailable as exc:
        # Without a CheckoutRequestID nothing can be asked about this push later; no money
        # moves unless the customer approves, and an approval we cannot match is logged.
        _fail(deposit, "unavailable", "M-Pesa could not be reached")
        await checkpoint(session)
        raise ServiceUnavailable("M-Pesa could not be reached; try again shortly") from exc

    locked = await repo.deposit_for_update(deposit.id)
    assert locked is not None
    locked.checkout_request_id = accepted.checkout_request_id
    locked.merchant_request_id = accepted.merchant_request_id
    early = await repo.stored_callback(STK, accepted.checkout_request_id)
    if early is not None and early.outcome in (None, UNMATCHED):
        await _apply_stored(session, runtime, locked, early)
    await session.flush()
    return locked


def _fail(deposit: Deposit, code: str, description: str) -> None:
    deposit.status = DepositStatus.FAILED.value
    deposit.result_code = code[:32]
    deposit.result_desc = description[:255]
    deposit.settled_at = datetime.now(UTC)


async def handle_stk_callback(runtime: Runtime, raw: bytes, source_ip: str | None) -> str:
    """Store and apply one STK callback; returns what came of it (for the log)."""
    try:
        callback = parse_stk_callback(raw)
    except CallbackFormatError as exc:
        logger.warning("malformed STK callback from %s: %s", source_ip, exc)
        raise BadRequest(f"Not an STK callback: {exc}") from exc
    async with runtime.db.unit_of_work() as session:
        repo = PaymentRepository(session)
        stored = await repo.store_callback(
            STK, callback.checkout_request_id, raw.decode(errors="replace"), source_ip
        )
        if stored is None:
            logger.info("duplicate STK callback for %s ignored", callback.checkout_request_id)
            return "duplicate"
        deposit = await repo.deposit_by_checkout_for_update(callback.checkout_request_id)
        if deposit is None:
            stored.outcome = UNMATCHED
            logger.warning(
                "STK callback for unknown CheckoutRequestID %s from %s",
                callback.checkout_request_id,
                source_ip,
            )
            return stored.outcome
        return await _apply_stored(session, runtime, deposit, stored)


async def _apply_stored(
    session: AsyncSession, runtime: Runtime, deposit: Deposit, stored: MpesaCallback
) -> str:
    callback = parse_stk_callback(stored.payload)
    stored.outcome = await settle_deposit(
        session,
        runtime,
        deposit,
        result_code=callback.result_code,
        result_desc=callback.result_desc,
        amount_kes=callback.amount_kes,
        receipt=callback.receipt_number,
    )
    return stored.outcome


async def settle_deposit(
    session: AsyncSession,
    runtime: Runtime,
    deposit: Deposit,
    *,
    result_code: str,
    result_desc: str,
    amount_kes: int | None,
    receipt: str | None,
) -> str:
    """Credit or fail a pending deposit (locked by the caller); later calls change nothing."""
    if deposit.status != DepositStatus.PENDING.value:
        return f"already {deposit.status}"
    now = datetime.now(UTC)
    if result_code != SUCCESS:
        _fail(deposit, result_code, result_desc)
        notify(session, runtime, deposit)
        return f"failed ({result_code})"
    if amount_kes is not None and amount_kes * 100 != deposit.amount:
        logger.warning(
            "deposit %s: M-Pesa reports KES %s, %s minor units were requested; not credited",
            deposit.id,
            amount_kes,
            deposit.amount,
        )
        return "amount mismatch: not credited, left for reconciliation"
    ledger = Ledger(session)
    clearing = await ledger.system_account(AccountKind.MPESA_CLEARING, deposit.currency)
    wallet = await ledger.wallet(deposit.user_id, deposit.currency)
    transaction = await ledger.post(
        Category.DEPOSIT,
        [Posting(clearing, -deposit.amount), Posting(wallet, deposit.amount)],
        reference=f"mpesa-stk:{deposit.checkout_request_id}",
        description=f"M-Pesa deposit {receipt or ''}".strip(),
    )
    deposit.status = DepositStatus.COMPLETED.value
    deposit.result_code = result_code
    deposit.result_desc = result_desc[:255]
    deposit.mpesa_receipt = receipt
    deposit.ledger_transaction_id = transaction.id
    deposit.settled_at = now
    notify(session, runtime, deposit, wallet.balance)
    return "credited"


async def reconcile_deposits(runtime: Runtime, now: datetime | None = None) -> int:
    """Ask M-Pesa about deposits pending too long; returns how many were settled."""
    return await ask_about_due(runtime, PaymentRepository.deposits_to_query, _reconcile_one, now)


async def _reconcile_one(runtime: Runtime, deposit_id: int, now: datetime) -> int:
    assert runtime.mpesa is not None
    async with runtime.db.unit_of_work() as session:
        deposit = await PaymentRepository(session).deposit_for_update(deposit_id)
        if deposit is None or deposit.status != DepositStatus.PENDING.value:
            return 0
        checkout_request_id = deposit.checkout_request_id
    assert checkout_request_id is not None
    try:
        result = await runtime.mpesa.stk_query(checkout_request_id)
    except (DarajaError, DarajaUnavailable) as exc:
        logger.warning("STK query for deposit %s failed: %s", deposit_id, exc)
        result = None
    async with runtime.db.unit_of_work() as session:
        deposit = await PaymentRepository(session).deposit_for_update(deposit_id)
        if deposit is None or deposit.status != DepositStatus.PENDING.value:
            return 0
        if result is None or isinstance(result, StkPending):
            deposit.next_query_at = next_query_at(now, deposit.query_attempts)
            deposit.query_attempts += 1
            return 0
        outcome = await settle_deposit(
            session,
            runtime,
            deposit,
            result_code=result.result_code,
            result_desc=result.result_desc,
            amount_kes=None,
            receipt=None,
        )
        logger.info("deposit %s reconciled by STK query: %s", deposit_id, outcome)
        return 1
