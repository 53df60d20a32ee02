"""Spin and Win: one stake, one provably-fair draw, settled in the same transaction.

On PostgreSQL in two statements (:mod:`gamehub.games.spin_repository`); elsewhere the
same rows are written one statement at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.money import to_major
from gamehub.core.runtime import Runtime
from gamehub.games import fairness, spin_repository
from gamehub.games.catalog import SPIN_AND_WIN, check_stake, playable_game, spin_table
from gamehub.games.seeds import Seeds
from gamehub.models import Bet, GameSession
from gamehub.models.games import BetKind, BetStatus, SessionStatus
from gamehub.models.ledger import AccountKind, Category
from gamehub.realtime.bus import publish_after_commit
from gamehub.stats.hooks import GameResult, follow_after_commit, outcome_of, record_results
from gamehub.stats.leaderboard import Settled
from gamehub.wallet.errors import InsufficientFunds
from gamehub.wallet.ledger import Ledger, Posting, wallet_code


@dataclass(frozen=True, slots=True)
class SpinPlayed:
    bet_id: int
    result: str
    multiplier: float
    win_amount: int
    new_balance: int
    server_seed_hash: str
    client_seed: str
    nonce: int


def _status(stake: int, win: int) -> BetStatus:
    if win > stake:
        return BetStatus.WON
    if win < stake:
        return BetStatus.LOST
    return BetStatus.PUSH


def _details(segment: int, table: fairness.RewardTable) -> str:
    # The table in force, so the bet can be verified even after it changes.
    return json.dumps(
        {
            "segment": segment,
            "table": [
                {"multiplier": s.label.removesuffix("x"), "weight": s.weight}
                for s in table.segments
            ],
        }
    )


def _won(status: BetStatus) -> bool | None:
    return {BetStatus.WON: True, BetStatus.LOST: False}.get(status)


async def play_spin(
    session: AsyncSession, runtime: Runtime, user_id: int, stake: int
) -> SpinPlayed:
    if session.get_bind().dialect.name == "postgresql":
        played = await _play_in_two_statements(session, runtime, user_id, stake)
    else:
        played = await _play(session, runtime, user_id, stake)
    # Registered before the leaderboards' follow-up: the player hears of the bet first.
    publish_after_commit(
        session,
        runtime.events,
        "bet_update",
        {
            "game": SPIN_AND_WIN,
            "bet_id": played.bet_id,
            "amount": to_major(stake),
            "win_amount": to_major(played.win_amount),
            "result": played.result,
            "balance": to_major(played.new_balance),
        },
        users=[user_id],
    )
    return played


async def _play_in_two_statements(
    session: AsyncSession, runtime: Runtime, user_id: int, stake: int
) -> SpinPlayed:
    """PostgreSQL: the stake and the nonce in one statement, the rest in another."""
    settings = runtime.settings
    currency = settings.currency
    now = datetime.now(UTC)
    ledger = Ledger(session)
    # Looked up before the stake: opening the house account, the first time, would
    # otherwise hold the wallet's lock while it waits for another opener.
    house_id = await ledger.system_account_id(AccountKind.HOUSE, currency)
    staked = await spin_repository.take_stake(
        session,
        slug=SPIN_AND_WIN,
        wallet_code=wallet_code(user_id, currency),
        user_id=user_id,
        stake=stake,
        at=now,
    )
    if staked is None:
        # Nothing was done; find out why, the generic way.
        check_stake(await playable_game(session, SPIN_AND_WIN), stake)
        raise InsufficientFunds()
    if staked.seed_id is None:
        # The player's first bet: create the seed (under the user's row lock).
        draw = await Seeds(session).draw(user_id)
        seed = draw.seed
        staked = replace(
            staked,
            seed_id=seed.id,
            server_seed=seed.server_seed,
            server_seed_hash=seed.server_seed_hash,
            client_seed=seed.client_seed,
            nonce=draw.nonce,
        )
    table = spin_table(settings)
    outcome = fairness.spin(staked.server_seed, staked.client_seed, staked.nonce, table)
    win = fairness.payout(stake, outcome.multiplier)
    status = _status(stake, win)
    won = _won(status)
    result_outcome = outcome_of(won).value
    written = await spin_repository.settle(
        session,
        staked,
        spin_repository.Settlement(
            user_id=user_id,
            stake=stake,
            win=win,
            house_id=house_id,
            currency=currency,
            stake_description="Spin and Win stake",
            win_description=f"Spin and Win {outcome.label}",
            status=status.value,
            result=outcome.label,
            details=_details(outcome.segment_index, table),
            outcome=result_outcome,
            game_slug=SPIN_AND_WIN,
            session_status=SessionStatus.ENDED.value,
            bet_kind=BetKind.SPIN.value,
            at=now,
        ),
    )
    if written.result_id is None:
        # An account older than its stats row: stats and result the generic way.
        result = GameResult(user_id, SPIN_AND_WIN, win - stake, won)
        await record_results(session, runtime, [result])
    else:
        follow_after_commit(
            session,
            runtime,
            [
                Settled(
                    written.result_id,
                    user_id,
                    SPIN_AND_WIN,
                    result_outcome,
                    win - stake,
                    now,
                )
            ],
        )
    return SpinPlayed(
        bet_id=written.bet_id,
        result=outcome.label,
        multiplier=float(outcome.multiplier),
        win_amount=win,
        new_balance=written.balance,
        server_seed_hash=staked.server_seed_hash,
        client_seed=staked.client_seed,
        nonce=staked.nonce,
    )


async def _play(session: AsyncSession, runtime: Runtime, user_id: int, stake: int) -> SpinPlayed:
    """SQLite and MariaDB: the same rows, statement by statement."""
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
        details=_details(outcome.segment_index, table),
        created_at=now,
        settled_at=now,
    )
    session.add(bet)
    await session.flush()
    await record_results(
        session, runtime, [GameResult(user_id, SPIN_AND_WIN, win - stake, _won(status))]
    )
    return SpinPlayed(
        bet_id=bet.id,
        result=outcome.label,
        multiplier=float(outcome.multiplier),
        win_amount=win,
        new_balance=wallet.balance,
        server_seed_hash=seed.server_seed_hash,
        client_seed=seed.client_seed,
        nonce=draw.nonce,
    )
