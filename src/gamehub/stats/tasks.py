"""The periodic leaderboard snapshot, taken by one worker of all each interval
(gamehub.core.jobs); a snapshot is one transaction, so one cut short leaves nothing."""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager

from gamehub.core.runtime import Runtime
from gamehub.stats.leaderboard import take_snapshot

logger = logging.getLogger("gamehub.stats.snapshots")


async def snapshot(runtime: Runtime) -> int:
    written = await take_snapshot(runtime)
    logger.info("leaderboard snapshot: %d rows", written)
    return written


def leaderboard_snapshots(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    return runtime.jobs.periodic(
        "leaderboard-snapshots",
        runtime.settings.leaderboard_snapshot_interval_seconds,
        lambda: snapshot(runtime),
    )
