"""The payment reconciler: asks M-Pesa about payments whose answer never came.

One worker of all runs each round (gamehub.core.jobs); row locks and status checks
make a payment settle once even when a round is run again after one that died half-way.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from gamehub.core.runtime import Runtime
from gamehub.payments.service.deposits import reconcile_deposits
from gamehub.payments.service.withdrawals import reconcile_withdrawals


async def reconcile_once(runtime: Runtime) -> tuple[int, int]:
    return await reconcile_deposits(runtime), await reconcile_withdrawals(runtime)


def reconciler(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    """Run the reconciler in the background while the app lives, if M-Pesa is on."""
    interval = runtime.settings.mpesa_reconcile_interval_seconds if runtime.mpesa else 0
    return runtime.jobs.periodic("payment-reconciler", interval, lambda: reconcile_once(runtime))
