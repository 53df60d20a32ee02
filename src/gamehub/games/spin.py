"""Spin and Win: one stake, one provably-fair draw, settled in the same transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.money import to_major
from gamehub.core.runtime import Runtime
from gamehub.games import fairness
from gamehub.games.catalog import SPIN_AND_WIN, check_stake, playable_game, spin_table
from gamehub.games.seeds import Seeds
from gamehub.models import Bet, GameSession
from gamehub.models.games import BetKind, BetStatus, SessionStatus
from gamehub.models.ledger import AccountKind, Category
from gamehub.realtime.bus import publish_after_commit
from gamehub.stats.hooks import GameResult, record_results
from gamehub.wallet.ledger import Ledger, Posting


@dataclass(frozen=True, slots=True)
class SpinPlayed:
    bet: Bet
    multiplier: float
    new_balance: int


def _status(stake: int, win: int) -> BetStatus:
    if win > stake:
        return BetStatus.WON
    if win < stake:
        return BetStatus.LOST
    return BetStatus.PUSH


async def play_spin(
    session: AsyncSession, runtime: Runtime, user_id: int, stake: int
) -> SpinPlayed:
    game = await playable_game(session, SPIN_AND_WIN)
    check_stake(game, stake)
    table = spin_table(runtime.settings)
    currency = runtime.settings.currency

    ledger = Ledger(session)
    wallet = await ledger.wallet(user_id, currency)
    house = await ledger.system_account(AccountKind.HOUSE, currency)
    # The stake first: insufficient funds stops the bet before a nonce is spent.
    await ledger.post(
        Category.BET,
        [Posting(wallet, -stake), Posting(house, stake)],
        description="Spin and Win stake",
    )
    draw = await Seeds(session).draw(user_id)
    seed = draw.seed
    outcome = fairness.spin(seed.server_seed, seed.client_seed, draw.nonce, table)
    win = fairness.payout(stake, outcome.multiplier)
    if win:
        await ledger.post(
            Category.WIN,
            [Posting(house, -win), Posting(wallet, win)],
            description=f"Spin and Win {outcome.label}",
        )

    now = datetime.now(UTC)
    game_session = GameSession(
        user_id=user_id,
        game_id=game.id,
        status=SessionStatus.ENDED.value,
        started_at=now,
        ended_at=now,
    )
    session.add(game_session)
    await session.flush()
    status = _status(stake, win)
    bet = Bet(
        session_id=game_session.id,
        user_id=user_id,
        game_id=game.id,
        kind=BetKind.SPIN.value,
        status=status.value,
        amount=stake,
        win_amount=win,
        result=outcome.label,
        server_seed_hash=seed.server_seed_hash,
        client_seed=seed.client_seed,
        nonce=draw.nonce,
        seed_id=seed.id,
        # The table in force, so the bet can be verified even after it changes.
        details=json.dumps(
            {
                "segment": outcome.segment_index,
                "table": [
                    {"multiplier": s.label.removesuffix("x"), "weight": s.weight}
                    for s in table.segments
                ],
            }
        ),
        created_at=now,
        settled_at=now,
    )
    session.add(bet)
    await session.flush()
    won = {BetStatus.WON: True, BetStatus.LOST: False}.get(status)
    # Published first: the player hears of the bet before its leaderboard move.
    publish_after_commit(
        session,
        runtime.events,
        "bet_update",
        {
            "game": SPIN_AND_WIN,
            "bet_id": bet.id,
            "amount": to_major(stake),
            "win_amount": to_major(win),
            "result": outcome.label,
            "balance": to_major(wallet.balance),
        },
        users=[user_id],
    )
    await record_results(session, runtime, [GameResult(user_id, SPIN_AND_WIN, win - stake, won)])
    return SpinPlayed(bet, float(outcome.multiplier), wallet.balance)
