"""The periodic leaderboard snapshot: every worker runs the timer, one takes each snapshot."""

from __future__ import annotations

import logging
import time
from contextlib import AbstractAsyncContextManager

from gamehub.core.jobs import periodic
from gamehub.core.runtime import Runtime
from gamehub.stats.leaderboard import take_snapshot

logger = logging.getLogger("gamehub.stats.snapshots")


async def snapshot_if_due(runtime: Runtime, interval: float) -> bool:
    """Take this interval's snapshot unless another worker already has."""
    slot = int(time.time() // interval)
    claim = await runtime.cache.incr(f"leaderboard:snapshot:{slot}", round(interval) + 60)
    if claim != 1:
        return False
    written = await take_snapshot(runtime)
    logger.info("leaderboard snapshot: %d rows", written)
    return True


def leaderboard_snapshots(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    interval = runtime.settings.leaderboard_snapshot_interval_seconds
    return periodic("leaderboard-snapshots", interval, lambda: snapshot_if_due(runtime, interval))
