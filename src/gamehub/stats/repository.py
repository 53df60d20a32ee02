"""All SQL of stats, history and leaderboards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.leaderboard_store import SnapshotRow
from gamehub.models import (
    Bet,
    FairnessSeed,
    Game,
    LeaderboardSnapshot,
    PlayerResult,
    RouletteRoom,
    Stats,
    User,
)
from gamehub.models.games import BetStatus
from gamehub.models.leaderboard import Outcome
from gamehub.stats.boards import Board, Period

SETTLED_BET_STATUSES = (BetStatus.WON.value, BetStatus.LOST.value, BetStatus.PUSH.value)


@dataclass(frozen=True, slots=True)
class BetTotals:
    total_bets: int = 0
    total_wagered: int = 0
    total_won: int = 0


@dataclass(frozen=True, slots=True)
class Record:
    win_count: int = 0
    loss_count: int = 0
    earnings: int = 0


@dataclass(frozen=True, slots=True)
class Player:
    username: str
    record: Record


def _counts_on_board() -> Any:
    """A result counts on a board unless it was a draw that moved nothing."""
    return func.sum(
        case(
            (or_(PlayerResult.outcome != Outcome.DRAW.value, PlayerResult.earnings != 0), 1),
            else_=0,
        )
    )


class StatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Recording results

    async def add_to_stats(self, user_id: int, won: bool | None, earnings: int) -> None:
        """One atomic UPDATE (no lost updates); it also takes the player's row lock, which
        the settling transaction then holds until it commits."""
        values = {
            "win_count": Stats.win_count + (1 if won is True else 0),
            "loss_count": Stats.loss_count + (1 if won is False else 0),
            "earnings": Stats.earnings + earnings,
        }
        query = update(Stats).where(Stats.user_id == user_id).values(**values)
        result = await self.session.execute(query.execution_options(synchronize_session=False))
        if result.rowcount:  # type: ignore[attr-defined]
            return
        # Every account gets its stats row at registration; this covers older ones.
        try:
            async with self.session.begin_nested():
                self.session.add(Stats(user_id=user_id))
        except IntegrityError:
            pass
        await self.session.execute(query.execution_options(synchronize_session=False))

    async def add_results(self, results: Sequence[PlayerResult]) -> None:
        self.session.add_all(results)
        await self.session.flush()

    # Leaderboards

    async def snapshot(self, board: Board) -> list[SnapshotRow]:
        """Everyone on ``board`` with their earnings and mark, read in one statement so
        that scores and marks describe the same moment."""
        if board.period is Period.ALL and board.game is None:
            mark = (
                select(func.max(PlayerResult.id))
                .where(PlayerResult.user_id == Stats.user_id)
                .scalar_subquery()
            )
            overall = select(Stats.user_id, Stats.earnings, mark).where(
                or_(Stats.win_count > 0, Stats.loss_count > 0, Stats.earnings != 0)
            )
            rows: Sequence[Row[Any, Any, Any]] = (await self.session.execute(overall)).all()
        else:
            within = (
                select(
                    PlayerResult.user_id,
                    func.sum(PlayerResult.earnings),
                    func.max(PlayerResult.id),
                )
                .where(*self._within(board))
                .group_by(PlayerResult.user_id)
                .having(_counts_on_board() > 0)
            )
            rows = (await self.session.execute(within)).all()
        return [SnapshotRow(int(u), int(e), int(m or 0)) for u, e, m in rows]

    @staticmethod
    def _within(board: Board) -> list[Any]:
        conditions: list[Any] = []
        if board.start is not None and board.end is not None:
            conditions += [
                PlayerResult.created_at >= board.start,
                PlayerResult.created_at < board.end,
            ]
        if board.game is not None:
            conditions.append(PlayerResult.game == board.game)
        return conditions

    async def players(self, board: Board, user_ids: Sequence[int]) -> dict[int, Player]:
        """Usernames, and wins and losses on ``board``, of some of its players."""
        if not user_ids:
            return {}
        rows: Sequence[Row[Any, Any, Any, Any, Any]]
        if board.period is Period.ALL and board.game is None:
            rows = (
                await self.session.execute(
                    select(
                        User.id, User.username, Stats.win_count, Stats.loss_count, Stats.earnings
                    )
                    .join(Stats, Stats.user_id == User.id)
                    .where(User.id.in_(user_ids))
                )
            ).all()
        else:
            wins = func.sum(case((PlayerResult.outcome == Outcome.WIN.value, 1), else_=0))
            losses = func.sum(case((PlayerResult.outcome == Outcome.LOSS.value, 1), else_=0))
            rows = (
                await self.session.execute(
                    select(User.id, User.username, wins, losses, func.sum(PlayerResult.earnings))
                    .join(PlayerResult, PlayerResult.user_id == User.id)
                    .where(User.id.in_(user_ids), *self._within(board))
                    .group_by(User.id, User.username)
                )
            ).all()
        return {
            int(uid): Player(name, Record(int(w or 0), int(lo or 0), int(e or 0)))
            for uid, name, w, lo, e in rows
        }

    async def add_snapshot(self, rows: Sequence[LeaderboardSnapshot]) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    # A player's stats

    async def record(self, user_id: int) -> Record:
        row = (
            await self.session.execute(
                select(Stats.win_count, Stats.loss_count, Stats.earnings).where(
                    Stats.user_id == user_id
                )
            )
        ).first()
        return Record() if row is None else Record(int(row[0]), int(row[1]), int(row[2]))

    async def user_with_record(self, username: str) -> tuple[User, Record] | None:
        user = (
            await self.session.execute(select(User).where(User.username_key == username.lower()))
        ).scalar_one_or_none()
        if user is None:
            return None
        return user, await self.record(user.id)

    async def bet_totals_by_game(self, user_id: int) -> dict[str, BetTotals]:
        rows = (
            await self.session.execute(
                select(
                    Game.slug,
                    func.count(Bet.id),
                    func.coalesce(func.sum(Bet.amount), 0),
                    func.coalesce(func.sum(Bet.win_amount), 0),
                )
                .join(Game, Game.id == Bet.game_id)
                .where(Bet.user_id == user_id, Bet.status.in_(SETTLED_BET_STATUSES))
                .group_by(Game.slug)
            )
        ).all()
        return {slug: BetTotals(int(n), int(staked), int(won)) for slug, n, staked, won in rows}

    async def records_by_game(self, user_id: int) -> dict[str, Record]:
        wins = func.sum(case((PlayerResult.outcome == Outcome.WIN.value, 1), else_=0))
        losses = func.sum(case((PlayerResult.outcome == Outcome.LOSS.value, 1), else_=0))
        rows = (
            await self.session.execute(
                select(PlayerResult.game, wins, losses, func.sum(PlayerResult.earnings))
                .where(PlayerResult.user_id == user_id)
                .group_by(PlayerResult.game)
            )
        ).all()
        return {game: Record(int(w), int(lo), int(e)) for game, w, lo, e in rows}

    # History

    async def catalog_slugs(self) -> list[str]:
        return list((await self.session.execute(select(Game.slug))).scalars())

    async def has_results_of(self, game: str) -> bool:
        """Whether some result was recorded for ``game`` (ours or a game server's)."""
        query = select(PlayerResult.id).where(PlayerResult.game == game).limit(1)
        return (await self.session.execute(query)).first() is not None

    async def bets(
        self,
        user_id: int,
        *,
        before_id: int | None,
        game: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> Sequence[Row[Bet, str, str | None, str | None]]:
        """Newest first, each with its game's slug and the server seed once revealed: a
        player's rotated seed, or a room's seed when its game is over."""
        revealed_seed = case((FairnessSeed.revealed_at.is_not(None), FairnessSeed.server_seed))
        room_seed = case((RouletteRoom.is_over, RouletteRoom.seed))
        query = (
            select(Bet, Game.slug, revealed_seed, room_seed)
            .join(Game, Game.id == Bet.game_id)
            .outerjoin(FairnessSeed, FairnessSeed.id == Bet.seed_id)
            .outerjoin(RouletteRoom, RouletteRoom.id == Bet.room_id)
            .where(Bet.user_id == user_id)
            .order_by(Bet.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(Bet.id < before_id)
        if game is not None:
            query = query.where(Game.slug == game)
        if since is not None:
            query = query.where(Bet.created_at >= since)
        if until is not None:
            query = query.where(Bet.created_at < until)
        return (await self.session.execute(query)).all()
