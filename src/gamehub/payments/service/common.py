"""What deposits and withdrawals share: the provider, amounts, phones and callback URLs."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.events import publish_after_commit
from gamehub.core.money import to_major, whole_major
from gamehub.core.mpesa.client import DarajaClient, normalise_msisdn
from gamehub.core.runtime import Runtime
from gamehub.models import Deposit, MpesaCallback, Withdrawal

# Imported for its flush listener, which counts every status a payment reaches.
from gamehub.payments import metrics  # noqa: F401
from gamehub.payments.errors import InvalidPhone, PaymentsNotConfigured, WholeShillingsOnly
from gamehub.payments.repository import PaymentRepository
from gamehub.settings import Settings

logger = logging.getLogger("gamehub.payments")

# Longest wait between two questions to M-Pesa about one payment.
MAX_QUERY_BACKOFF = timedelta(minutes=10)


def notify(session: AsyncSession, runtime: Runtime, payment: Deposit | Withdrawal) -> None:
    """Tell the player, once committed, that a payment moved on (the money it moved is
    told by the ledger, as a ``transaction_update``)."""
    is_deposit = isinstance(payment, Deposit)
    key = "deposit_id" if is_deposit else "withdrawal_id"
    publish_after_commit(
        session,
        runtime.events,
        "deposit_update" if is_deposit else "withdrawal_update",
        {
            key: payment.id,
            "status": payment.status,
            "amount": to_major(payment.amount),
            "mpesa_receipt": payment.mpesa_receipt,
            "result_code": payment.result_code,
            "result_desc": payment.result_desc,
        },
        users=[payment.user_id],
    )


def require_mpesa(runtime: Runtime) -> DarajaClient:
    if runtime.mpesa is None:
        raise PaymentsNotConfigured()
    return runtime.mpesa


def whole_shillings(amount_minor: int) -> int:
    shillings = whole_major(amount_minor)
    if shillings is None:
        raise WholeShillingsOnly()
    return shillings


def msisdn(phone: str) -> str:
    try:
        return normalise_msisdn(phone)
    except ValueError as exc:
        raise InvalidPhone(f"phone: {exc}") from exc


def callback_url(settings: Settings, kind: str, *suffix: str) -> str:
    base = settings.mpesa_callback_base_url.rstrip("/")
    return "/".join([f"{base}/payments/mpesa/{kind}/{settings.callback_secret}", *suffix])


def new_token() -> str:
    """A per-payment (or per-question) URL token: hex, so never one of the words Daraja
    refuses in a URL (exe, cmd, sql…)."""
    return secrets.token_hex(16)


def token_matches(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def flag_callback(stored: MpesaCallback, outcome: str, source_ip: str | None) -> str:
    """Keep a callback that moves nothing (a wrong token, or a contradiction of what M-Pesa
    confirmed) on record for an operator, and say so in the log."""
    stored.outcome = outcome[:255]
    stored.flagged = True
    logger.warning(
        "%s callback %s for %s from %s: %s",
        stored.kind,
        stored.id,
        stored.external_id,
        source_ip,
        outcome,
    )
    return stored.outcome


def trusts_callbacks(settings: Settings) -> bool:
    """The deployment believes callbacks from its allow-listed addresses without asking."""
    return settings.mpesa_trust_callback_allowlist and bool(settings.mpesa_callback_allowed_ips)


async def ask_about_due(
    runtime: Runtime,
    find_due: Callable[[PaymentRepository, datetime, datetime], Awaitable[list[int]]],
    ask: Callable[[AsyncSession, Runtime, int, datetime], Awaitable[int]],
    now: datetime | None,
) -> int:
    """The reconcilers' round: find payments unanswered for too long, ask about each
    (each payment a unit of work of its own), and count what came of it."""
    if runtime.mpesa is None:
        return 0
    now = now or runtime.clock.now()
    cutoff = now - timedelta(seconds=runtime.settings.mpesa_reconcile_after_seconds)
    async with runtime.db.unit_of_work() as session:
        due = await find_due(PaymentRepository(session), cutoff, now)
    answered = 0
    for payment_id in due:
        async with runtime.db.unit_of_work() as session:
            answered += await ask(session, runtime, payment_id, now)
    return answered


def next_query_at(now: datetime, attempts: int) -> datetime:
    """15 s, 30 s, 60 s… capped: rapid polling earns Daraja's spike arrest."""
    delay = timedelta(seconds=15 * 2 ** min(attempts, 10))
    return now + min(delay, MAX_QUERY_BACKOFF)
