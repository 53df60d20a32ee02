"""The payment reconciler: asks M-Pesa about payments whose answer never came.

One worker of all runs each round (gamehub.core.jobs); row locks and status checks
make a payment settle once even when a round is run again after one that died half-way.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from gamehub.core import metrics
from gamehub.core.runtime import Runtime
from gamehub.models.payments import WithdrawalStatus
from gamehub.payments.repository import PaymentRepository
from gamehub.payments.service.deposits import reconcile_deposits
from gamehub.payments.service.withdrawals import reconcile_withdrawals


async def reconcile_once(runtime: Runtime) -> tuple[int, int]:
    return await reconcile_deposits(runtime), await reconcile_withdrawals(runtime)


def reconciler(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    """Run the reconciler in the background while the app lives, if M-Pesa is on."""
    interval = runtime.settings.mpesa_reconcile_interval_seconds if runtime.mpesa else 0
    return runtime.jobs.periodic("payment-reconciler", interval, lambda: reconcile_once(runtime))


UNKNOWN = WithdrawalStatus.UNKNOWN.value
NEEDS_REVIEW = WithdrawalStatus.NEEDS_REVIEW.value
KINDS = ("deposit", "withdrawal")


async def count_waiting(runtime: Runtime) -> dict[tuple[str, str], int]:
    """Set the gauges of payments whose outcome is unknown and of those waiting for an
    operator, from the database (so every worker's scrape agrees)."""
    async with runtime.db.unit_of_work() as session:
        counts = await PaymentRepository(session).status_counts([UNKNOWN, NEEDS_REVIEW])
    # Only a withdrawal can be `unknown`: a deposit whose push went unanswered stays
    # pending until M-Pesa answers or it expires.
    metrics.PAYMENTS_UNKNOWN.labels("withdrawal").set(counts.get(("withdrawal", UNKNOWN), 0))
    for kind in KINDS:
        metrics.PAYMENTS_NEEDS_REVIEW.labels(kind).set(counts.get((kind, NEEDS_REVIEW), 0))
    return counts


def payment_gauges(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    """Count waiting payments in the background while the app lives, M-Pesa on or not
    (payments left from when it was on still wait)."""
    interval = runtime.settings.payment_gauges_interval_seconds
    return runtime.jobs.periodic("payment-gauges", interval, lambda: count_waiting(runtime))
