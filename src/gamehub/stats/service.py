"""A player's stats and bet history."""

from __future__ import annotations

from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.errors import UserNotFound
from gamehub.core.money import to_major
from gamehub.core.pagination import Window, next_cursor, unknown_value
from gamehub.core.runtime import Runtime
from gamehub.stats import schemas
from gamehub.stats.repository import BetTotals, Record, StatsRepository
from gamehub.wallet.ledger import Ledger


def _totals(bets: BetTotals, record: Record) -> schemas.Totals:
    return schemas.Totals(
        total_bets=bets.total_bets,
        total_wagered=to_major(bets.total_wagered),
        total_won=to_major(bets.total_won),
        net_profit=to_major(bets.total_won - bets.total_wagered),
        win_count=record.win_count,
        loss_count=record.loss_count,
        earnings=to_major(record.earnings),
    )


class StatsService:
    def __init__(self, session: AsyncSession, runtime: Runtime) -> None:
        self.session = session
        self.runtime = runtime
        self.repo = StatsRepository(session)

    async def own(self, user_id: int) -> schemas.OwnStatsOut:
        bets = await self.repo.bet_totals_by_game(user_id)
        records = await self.repo.records_by_game(user_id)
        by_game = []
        for game in sorted(bets.keys() | records.keys()):
            t = _totals(bets.get(game, BetTotals()), records.get(game, Record()))
            by_game.append(
                schemas.GameTotals(
                    game=game,
                    total_bets=t.total_bets,
                    total_wagered=t.total_wagered,
                    total_won=t.total_won,
                    net_profit=t.net_profit,
                    win_count=t.win_count,
                    loss_count=t.loss_count,
                    earnings=t.earnings,
                )
            )
        overall_bets = BetTotals(
            sum(b.total_bets for b in bets.values()),
            sum(b.total_wagered for b in bets.values()),
            sum(b.total_won for b in bets.values()),
        )
        return schemas.OwnStatsOut(
            overall=_totals(overall_bets, await self.repo.record(user_id)), by_game=by_game
        )

    async def public(self, username: str, caller_id: int | None) -> schemas.PublicStatsOut:
        found = await self.repo.user_with_record(username)
        if found is None:
            raise UserNotFound()
        user, record = found
        wallet = None
        if caller_id == user.id:
            account = await Ledger(self.session).wallet(user.id, self.runtime.settings.currency)
            wallet = to_major(account.balance)
        return schemas.PublicStatsOut(
            username=user.username,
            user_id=user.id,
            win_count=record.win_count,
            loss_count=record.loss_count,
            earnings=to_major(record.earnings),
            wallet=wallet,
        )

    async def history(
        self, user_id: int, page: Window, game: str | None
    ) -> tuple[list[schemas.HistoryItem], str | None]:
        """A page of the player's bets, newest first, and the cursor of the next page."""
        if game is not None:
            slugs = await self.repo.catalog_slugs()
            if game not in slugs:
                raise unknown_value("game", slugs)
        limit = page.limit
        rows = await self.repo.bets(
            user_id,
            before_id=page.after,
            game=game,
            since=page.since,
            until=page.until,
            limit=limit + 1,
        )
        items = [
            schemas.HistoryItem(
                id=bet.id,
                game=slug,
                bet_amount=to_major(bet.amount),
                win_amount=to_major(bet.win_amount),
                net_result=to_major(bet.win_amount - bet.amount),
                created_at=bet.created_at,
                kind=bet.kind,
                status=bet.status,
                result=bet.result,
                settled_at=bet.settled_at,
                room_id=bet.room_id,
                server_seed_hash=bet.server_seed_hash,
                server_seed=player_seed or room_seed,
                client_seed=bet.client_seed,
                nonce=bet.nonce,
                odds=None if bet.odds is None else float(Fraction(bet.odds)),
                odds_exact=bet.odds,
                stake_tax=to_major(bet.stake_tax),
                winnings_tax=to_major(bet.winnings_tax),
                reward_table_version=bet.reward_table_version,
            )
            for bet, slug, player_seed, room_seed in rows[:limit]
        ]
        return items, next_cursor(len(rows), limit, items[-1].id if items else None)
