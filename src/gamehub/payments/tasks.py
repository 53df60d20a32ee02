"""The payment reconciler: asks M-Pesa about payments whose answer never came.

Each worker runs it; row locks and status checks make a payment settle once even when
two workers ask about it together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from gamehub.core.runtime import Runtime
from gamehub.payments.deposits import reconcile_deposits
from gamehub.payments.withdrawals import reconcile_withdrawals

logger = logging.getLogger("gamehub.payments.reconciler")


async def reconcile_once(runtime: Runtime) -> tuple[int, int]:
    return await reconcile_deposits(runtime), await reconcile_withdrawals(runtime)


async def _loop(runtime: Runtime, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await reconcile_once(runtime)
        except Exception:
            logger.exception("payment reconciliation failed; trying again next round")


@asynccontextmanager
async def reconciler(runtime: Runtime) -> AsyncIterator[None]:
    """Run the reconciler in the background while the app lives, if M-Pesa is on."""
    interval = runtime.settings.mpesa_reconcile_interval_seconds
    if runtime.mpesa is None or interval <= 0:
        yield
        return
    task = asyncio.create_task(_loop(runtime, interval), name="payment-reconciler")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
