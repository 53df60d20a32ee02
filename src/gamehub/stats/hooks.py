"""What a settled game does to its players' stats, in the settling transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import Phase, after_commit
from gamehub.core.events import Outgoing
from gamehub.core.runtime import Runtime
from gamehub.models import PlayerResult
from gamehub.models.leaderboard import Outcome
from gamehub.stats.leaderboard import Settled, after_settlement
from gamehub.stats.repository import StatsRepository


@dataclass(frozen=True, slots=True)
class GameResult:
    user_id: int
    game_slug: str
    # Minor units won minus staked; negative for a loss.
    earnings: int
    # True won, False lost, None neither (a stake returned in full).
    won: bool | None
    # What settled it, unique per player when given (/terminate uses "terminate:<id>").
    reference: str | None = None


def outcome_of(won: bool | None) -> Outcome:
    if won is None:
        return Outcome.DRAW
    return Outcome.WIN if won else Outcome.LOSS


async def record_results(
    session: AsyncSession, runtime: Runtime, results: Sequence[GameResult]
) -> None:
    """Add each result to its player's stats and to ``player_results``, from which every
    leaderboard can be rebuilt; once committed, the leaderboards follow and each player
    is sent ``leaderboard_update``."""
    if not results:
        return
    repo = StatsRepository(session)
    # A fixed order of row locks keeps two settlements that share players from
    # deadlocking each other.
    ordered = sorted(results, key=lambda r: r.user_id)
    for result in ordered:
        await repo.add_to_stats(result.user_id, result.won, result.earnings)
    now = runtime.clock.now()
    rows = [
        PlayerResult(
            user_id=r.user_id,
            game=r.game_slug,
            outcome=outcome_of(r.won).value,
            earnings=r.earnings,
            reference=r.reference,
            created_at=now,
        )
        for r in ordered
    ]
    # Inserted while this transaction holds the players' stats rows, so that a player's
    # result ids follow commit order: what the leaderboards' marks rely on.
    await repo.add_results(rows)
    follow_after_commit(
        session,
        runtime,
        [Settled(row.id, row.user_id, row.game, row.outcome, row.earnings, now) for row in rows],
    )


def follow_after_commit(
    session: AsyncSession,
    runtime: Runtime,
    settled: list[Settled],
    announced: Sequence[Outgoing] = (),
) -> None:
    """Once committed, the events ``announced`` are published, the leaderboards count
    the results and each player is told their standing."""

    async def follow() -> None:
        await after_settlement(runtime, settled, announced)

    after_commit(session, follow, phase=Phase.DERIVED)
