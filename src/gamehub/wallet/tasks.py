"""The periodic ledger check: every invariant ``gamehub ledger verify`` checks, its
result kept on /metrics (``gamehub_ledger_problems``) for an alert to watch."""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager

from gamehub.core import metrics
from gamehub.core.runtime import Runtime
from gamehub.wallet.verify import PROBLEM_KINDS, LedgerReport, verify_ledger

logger = logging.getLogger("gamehub.wallet.check")
# The first problems a failed check logs; the rest are for `gamehub ledger verify`.
LOGGED_PROBLEMS = 10


async def check_ledger(runtime: Runtime) -> LedgerReport:
    async with runtime.db.unit_of_work() as session:
        report = await verify_ledger(session)
    for kind in PROBLEM_KINDS:
        metrics.LEDGER_PROBLEMS.labels(kind).set(report.counts[kind])
    if not report.ok:
        logger.error(
            "ledger check found %d problems: %s",
            len(report.problems),
            "; ".join(report.problems[:LOGGED_PROBLEMS]),
        )
    return report


def ledger_checks(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    interval = runtime.settings.ledger_check_interval_seconds
    return runtime.jobs.periodic("ledger-check", interval, lambda: check_ledger(runtime))
