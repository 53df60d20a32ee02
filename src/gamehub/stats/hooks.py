"""What a settled game does to its players' stats, in the settling transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.runtime import Runtime
from gamehub.models import Stats


@dataclass(frozen=True, slots=True)
class GameResult:
    user_id: int
    game_slug: str
    # Minor units won minus staked; negative for a loss.
    earnings: int
    # True won, False lost, None neither (a stake returned in full).
    won: bool | None


async def record_results(
    session: AsyncSession, runtime: Runtime, results: Sequence[GameResult]
) -> None:
    """Add each result to its player's stats with one atomic UPDATE (no lost updates);
    once committed, the leaderboards follow."""
    for result in results:
        await session.execute(
            update(Stats)
            .where(Stats.user_id == result.user_id)
            .values(
                win_count=Stats.win_count + (1 if result.won is True else 0),
                loss_count=Stats.loss_count + (1 if result.won is False else 0),
                earnings=Stats.earnings + result.earnings,
            )
            .execution_options(synchronize_session=False)
        )
