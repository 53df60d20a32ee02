"""Deposits by M-Pesa STK push: request, callback, and reconciliation by STK query.

The deposit row, with a random token that only this push's CallBackURL carries, is
committed before the push is sent, and the push's CheckoutRequestID after it is accepted.
A callback is evidence, not an order: it is stored raw (every distinct body), must carry
its deposit's token, and moves money only once the STK query (a synchronous answer from
M-Pesa itself) confirms the outcome, unless the deployment trusts its address allow-list
instead. The token also finds a deposit whose CheckoutRequestID was never stored (a worker
died right after the push). The reconciler asks about every pending deposit, and one that
never gets an answer ends as expired; a confirmed late success still credits, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.service import AccountService
from gamehub.core.db import commit_durable_step
from gamehub.core.idempotency import record_created
from gamehub.core.money import from_whole_major, whole_major
from gamehub.core.mpesa.client import DarajaError, DarajaUnavailable, StkPending
from gamehub.core.runtime import Runtime
from gamehub.errors import ValidationError
from gamehub.models import Deposit, MpesaCallback
from gamehub.models.ledger import AccountKind, Category
from gamehub.models.payments import DepositStatus
from gamehub.models.protection import PhoneProof
from gamehub.payments.errors import (
    DepositNotFound,
    MalformedCallback,
    MpesaUnreachable,
    PaymentRefused,
)
from gamehub.payments.mpesa.callbacks import (
    CallbackFormatError,
    StkCallback,
    parse_stk_callback,
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
from gamehub.protection.phones import Phones
from gamehub.protection.service import Protection
from gamehub.wallet.ledger import Ledger, Posting
from gamehub.wallet.taxes import Taxes, TaxRule, tax_postings

STK = "stk"
DEPOSIT = "deposit"
SUCCESS = "0"
UNMATCHED = "unmatched: no deposit has this callback token"
AWAITING = "awaiting confirmation by STK query"
# M-Pesa's clock (TransactionDate) against ours, when matching a callback by its details.
CLOCK_SKEW = timedelta(minutes=2)
# Statuses a confirmed answer may still settle: an expired deposit credits a late success.
OPEN_STATUSES = (DepositStatus.PENDING.value, DepositStatus.EXPIRED.value)


@dataclass(frozen=True, slots=True)
class Truth:
    """What M-Pesa says happened to one push (or, when callbacks are trusted, the callback)."""

    result_code: str
    result_desc: str

    @property
    def succeeded(self) -> bool:
        return self.result_code == SUCCESS


async def start_deposit(
    session: AsyncSession, runtime: Runtime, user_id: int, amount_minor: int, phone: str | None
) -> Deposit:
    """Record the deposit and push the STK prompt, to ``phone`` or, without one, to the
    phone the account was registered with."""
    client = require_mpesa(runtime)
    shillings = whole_shillings(amount_minor)
    # Locks the wallet when a deposit limit applies: the deposit's row below is written
    # (and committed) before the lock is let go, so a concurrent deposit counts it.
    await Protection(session, runtime).check_deposit(user_id, amount_minor)
    if phone is None:
        phone = await AccountService(session, runtime).phone(user_id)
        if phone is None:
            raise ValidationError.of(
                "phone", "required, since the account has no phone number of its own"
            )
    number = msisdn(phone)
    # Whoever asks: each deposit is a prompt on that phone, which may be a stranger's.
    await runtime.rate_limits.hit("deposit_phone", number)
    repo = PaymentRepository(session)
    deposit = Deposit(
        user_id=user_id,
        amount=amount_minor,
        currency=runtime.settings.currency,
        phone=number,
        status=DepositStatus.PENDING.value,
        query_attempts=0,
        callback_token=new_token(),
    )
    session.add(deposit)
    await session.flush()
    await record_created(session, DEPOSIT, deposit.id)
    # On record (and the Idempotency-Key bound to it) before M-Pesa hears of it.
    await commit_durable_step(session, "the deposit is on record before M-Pesa hears of it")
    assert deposit.callback_token is not None
    try:
        accepted = await client.stk_push(
            shillings,
            number,
            account_reference=f"GH{deposit.id}"[:12],
            description="Deposit",
            callback_url=callback_url(runtime.settings, STK, deposit.callback_token),
        )
    except DarajaError as exc:
        _fail(deposit, exc.error_code, exc.error_message)
        await commit_durable_step(session, "M-Pesa's refusal is kept though the request fails")
        raise PaymentRefused(f"M-Pesa refused the request: {exc.error_message}") from exc
    except DarajaUnavailable as exc:
        # The push may have gone out. If the customer approves, the callback finds this
        # deposit by its token; if nothing ever comes, it expires.
        logger.warning("STK push for deposit %s: outcome unknown: %s", deposit.id, exc)
        raise MpesaUnreachable(
            "M-Pesa could not be reached; if a prompt reaches the phone, approving it still "
            "credits this deposit"
        ) from exc

    locked = await repo.deposit_for_update(deposit.id)
    assert locked is not None
    # A callback confirmed first may have recorded the id already.
    if locked.checkout_request_id is None:
        locked.checkout_request_id = accepted.checkout_request_id
        locked.merchant_request_id = accepted.merchant_request_id
    await session.flush()
    return locked


async def users_deposit(session: AsyncSession, user_id: int, deposit_id: int) -> Deposit:
    """One of the user's deposits; another user's is as absent as one that never was."""
    deposit = await PaymentRepository(session).users_deposit(user_id, deposit_id)
    if deposit is None:
        raise DepositNotFound()
    return deposit


def _fail(deposit: Deposit, code: str, description: str) -> None:
    deposit.status = DepositStatus.FAILED.value
    deposit.result_code = code[:32]
    deposit.result_desc = description[:255]
    deposit.settled_at = datetime.now(UTC)


async def handle_stk_callback(
    session: AsyncSession, runtime: Runtime, raw: bytes, source_ip: str | None, token: str
) -> str:
    """Store one STK callback and, once M-Pesa confirms it, settle; returns what came of it."""
    try:
        callback = parse_stk_callback(raw)
    except CallbackFormatError as exc:
        logger.warning("malformed STK callback from %s: %s", source_ip, exc)
        raise MalformedCallback(f"Not an STK callback: {exc}") from exc
    repo = PaymentRepository(session)
    stored = await repo.store_callback(
        STK, callback.checkout_request_id, raw.decode(errors="replace"), source_ip, token
    )
    if stored is None:
        logger.info("repeated STK callback for %s ignored", callback.checkout_request_id)
        return "duplicate"
    deposit = await repo.deposit_by_token_for_update(token)
    if deposit is None:
        return flag_callback(stored, UNMATCHED, source_ip)
    known = deposit.checkout_request_id
    if known is not None and known != callback.checkout_request_id:
        return flag_callback(stored, f"conflict: deposit {deposit.id} is {known}", source_ip)
    if trusts_callbacks(runtime.settings):
        return await _settle_confirmed(
            session,
            runtime,
            deposit,
            callback.checkout_request_id,
            Truth(callback.result_code, callback.result_desc),
            trusted=callback,
        )
    stored.outcome = AWAITING
    return await confirm_deposit(session, runtime, deposit.id, callback.checkout_request_id)


async def confirm_deposit(
    session: AsyncSession,
    runtime: Runtime,
    deposit_id: int,
    checkout_request_id: str,
    vouched: MpesaCallback | None = None,
) -> str:
    """Ask M-Pesa how the push ``checkout_request_id`` ended and settle the deposit by that.
    ``vouched``: an unmatched callback that named the push by the deposit's details."""
    await commit_durable_step(
        session, "the evidence is kept, and no row locked, while M-Pesa is asked"
    )
    truth = await _ask(runtime, checkout_request_id)
    if truth is None:
        return AWAITING
    deposit = await PaymentRepository(session).deposit_for_update(deposit_id)
    assert deposit is not None
    return await _settle_confirmed(
        session,
        runtime,
        deposit,
        checkout_request_id,
        truth,
        vouched_id=None if vouched is None else vouched.id,
    )


async def _ask(runtime: Runtime, checkout_request_id: str) -> Truth | None:
    """The STK query's answer; None while M-Pesa has none to give."""
    assert runtime.mpesa is not None
    try:
        answer = await runtime.mpesa.stk_query(checkout_request_id)
    except (DarajaError, DarajaUnavailable) as exc:
        logger.warning("STK query for %s failed: %s", checkout_request_id, exc)
        return None
    if isinstance(answer, StkPending):
        return None
    return Truth(answer.result_code, answer.result_desc)


async def _settle_confirmed(
    session: AsyncSession,
    runtime: Runtime,
    deposit: Deposit,
    checkout_request_id: str,
    truth: Truth,
    trusted: StkCallback | None = None,
    vouched_id: int | None = None,
) -> str:
    """Settle ``deposit`` (locked) by ``truth`` about ``checkout_request_id``; every stored
    callback for that push that says otherwise is flagged. Exactly once, whoever calls."""
    repo = PaymentRepository(session)
    if deposit.checkout_request_id is None:
        deposit.checkout_request_id = checkout_request_id
    evidence = [
        (stored, parse_stk_callback(stored.payload))
        for stored in await repo.callbacks_for(STK, checkout_request_id)
        if not stored.flagged or stored.id == vouched_id
    ]
    receipt: str | None = None
    for stored, said in evidence:
        if stored.id == vouched_id:
            # Matched by amount, phone and time, and now confirmed: no longer a stray.
            stored.flagged = False
        if stored.id != vouched_id and not token_matches(
            stored.url_token or "", deposit.callback_token
        ):
            flag_callback(stored, "conflict: not this deposit's callback token", stored.source_ip)
        elif said.succeeded != truth.succeeded:
            flag_callback(
                stored,
                f"conflict: says {said.result_code}, M-Pesa says {truth.result_code}",
                stored.source_ip,
            )
        elif said.succeeded and said.amount_kes != whole_major(deposit.amount):
            flag_callback(
                stored,
                f"conflict: says KES {said.amount_kes}, the push asked for "
                f"{whole_major(deposit.amount)}",
                stored.source_ip,
            )
        elif said.succeeded:
            receipt = said.receipt_number
    outcome = await settle_deposit(
        session,
        runtime,
        deposit,
        result_code=truth.result_code,
        result_desc=truth.result_desc,
        # M-Pesa charged what the push asked for; only a believed callback reports otherwise.
        amount_kes=None if trusted is None else trusted.amount_kes,
        receipt=receipt if trusted is None else trusted.receipt_number,
    )
    for stored, _ in evidence:
        if not stored.flagged:
            stored.outcome = outcome
    return outcome


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
    """Credit or fail an open deposit (locked by the caller); later calls change nothing."""
    if deposit.status not in OPEN_STATUSES:
        return f"already {deposit.status}"
    now = runtime.clock.now()
    if result_code != SUCCESS:
        _fail(deposit, result_code, result_desc)
        notify(session, runtime, deposit)
        return f"failed ({result_code})"
    if amount_kes is not None and from_whole_major(amount_kes) != deposit.amount:
        logger.warning(
            "deposit %s: M-Pesa reports KES %s, %s minor units were requested; needs review",
            deposit.id,
            amount_kes,
            deposit.amount,
        )
        deposit.status = DepositStatus.NEEDS_REVIEW.value
        deposit.result_desc = f"M-Pesa reports KES {amount_kes}"
        return "amount mismatch: needs review"
    await credit_deposit(
        session, runtime, deposit, receipt, f"M-Pesa deposit {receipt or ''}".strip()
    )
    deposit.result_code = result_code
    deposit.result_desc = result_desc[:255]
    deposit.settled_at = now
    notify(session, runtime, deposit)
    return "credited"


async def credit_deposit(
    session: AsyncSession,
    runtime: Runtime,
    deposit: Deposit,
    receipt: str | None,
    description: str,
) -> None:
    """Post the deposit's credit, less the tax withheld from it, and mark it completed."""
    ledger = Ledger(session, runtime.events)
    clearing = await ledger.system_account(AccountKind.MPESA_CLEARING, deposit.currency)
    wallet = await ledger.wallet(deposit.user_id, deposit.currency)
    deposit.tax = Taxes.of(runtime.settings).on_deposit(deposit.amount)
    transaction = await ledger.post(
        Category.DEPOSIT,
        [
            Posting(clearing, -deposit.amount),
            Posting(wallet, deposit.amount - deposit.tax),
            *await tax_postings(ledger, TaxRule.DEPOSIT, deposit.tax, deposit.currency),
        ],
        # One credit per deposit, whichever path gets here: the reference is unique.
        reference=f"mpesa-deposit:{deposit.id}",
        description=description[:255],
    )
    deposit.status = DepositStatus.COMPLETED.value
    deposit.mpesa_receipt = receipt
    # The phone's owner approved it with their PIN: the number is the player's.
    await Phones(session, runtime.settings, runtime.clock).prove(
        deposit.user_id, deposit.phone, PhoneProof.DEPOSIT
    )
    deposit.ledger_transaction_id = transaction.id


async def reconcile_deposits(runtime: Runtime, now: datetime | None = None) -> int:
    """Ask M-Pesa about deposits pending too long; returns how many were settled."""
    return await ask_about_due(runtime, PaymentRepository.deposits_to_query, _reconcile_one, now)


async def _reconcile_one(
    session: AsyncSession, runtime: Runtime, deposit_id: int, now: datetime
) -> int:
    expire_after = timedelta(seconds=runtime.settings.mpesa_deposit_expire_after_seconds)
    repo = PaymentRepository(session)
    deposit = await repo.deposit_for_update(deposit_id)
    if deposit is None or deposit.status != DepositStatus.PENDING.value:
        return 0
    vouched: MpesaCallback | None = None
    if deposit.checkout_request_id is not None:
        pushes = [deposit.checkout_request_id]
    else:
        # The worker died before storing the id: M-Pesa's callback, found by the
        # deposit's token, names it (confirmed below before anything moves).
        token = deposit.callback_token or ""
        pushes = list(
            dict.fromkeys(c.external_id for c in await repo.callbacks_with_token(STK, token))
        )
        if not pushes:
            vouched = await _look_alike(repo, deposit, expire_after)
            pushes = [] if vouched is None else [vouched.external_id]
    for checkout_request_id in pushes:
        outcome = await confirm_deposit(session, runtime, deposit_id, checkout_request_id, vouched)
        if outcome != AWAITING:
            logger.info("deposit %s reconciled by STK query: %s", deposit_id, outcome)
            return 1
    deposit = await repo.deposit_for_update(deposit_id)
    if deposit is None or deposit.status != DepositStatus.PENDING.value:
        return 0
    if deposit.created_at <= now - expire_after:
        deposit.status = DepositStatus.EXPIRED.value
        deposit.result_desc = "M-Pesa gave no answer in time"
        deposit.settled_at = now
        notify(session, runtime, deposit)
        logger.warning(
            "deposit %s expired without an answer from M-Pesa (CheckoutRequestID %s)",
            deposit_id,
            deposit.checkout_request_id,
        )
        return 1
    deposit.next_query_at = next_query_at(now, deposit.query_attempts)
    deposit.query_attempts += 1
    return 0


async def _look_alike(
    repo: PaymentRepository, deposit: Deposit, expire_after: timedelta
) -> MpesaCallback | None:
    """The one unmatched successful callback (its URL token lost or unknown) with this
    deposit's amount and phone, paid between the deposit's creation and its expiry, whose
    push no other deposit owns. Only a lead: the STK query must still confirm it."""
    earliest = deposit.created_at - CLOCK_SKEW
    found: list[MpesaCallback] = []
    for stored in await repo.unmatched_callbacks(STK, UNMATCHED, earliest):
        said = parse_stk_callback(stored.payload)
        paid_at = said.transaction_date
        if (
            said.succeeded
            and said.amount_kes is not None
            and from_whole_major(said.amount_kes) == deposit.amount
            and said.phone_number == deposit.phone
            and paid_at is not None
            and earliest <= paid_at <= deposit.created_at + expire_after
            and await repo.deposit_by_checkout_for_update(said.checkout_request_id) is None
        ):
            found.append(stored)
    return found[0] if len(found) == 1 else None
