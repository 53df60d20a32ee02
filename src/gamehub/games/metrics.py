"""The games' counters on /metrics: bets settled, what they staked and what they paid."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core import metrics
from gamehub.core.db import Phase, after_commit


def count_settled_after_commit(
    session: AsyncSession, game: str, currency: str, settled: Iterable[tuple[int, int]]
) -> None:
    """Once ``session`` commits, count the bets it settled, each as (stake, paid to the
    player), in minor units; a rollback counts nothing."""
    bets = list(settled)
    if not bets:
        return

    async def count() -> None:
        metrics.BETS.labels(game).inc(len(bets))
        metrics.WAGERED.labels(game, currency).inc(sum(stake for stake, _ in bets))
        metrics.PAID_OUT.labels(game, currency).inc(sum(paid for _, paid in bets))

    after_commit(session, count, phase=Phase.DERIVED)
