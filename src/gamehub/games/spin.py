"""Spin and Win: one stake, one provably-fair draw, settled in the same transaction.

On PostgreSQL in two statements (:mod:`gamehub.games.spin_repository`); elsewhere the
same rows are written one statement at a time.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import Database, Phase, after_commit
from gamehub.core.events import Outgoing, publish_after_commit, user_topic
from gamehub.core.money import to_major
from gamehub.core.runtime import Runtime
from gamehub.games import config, fairness, spin_repository
from gamehub.games.catalog import SPIN_AND_WIN, check_stake, playable_game
from gamehub.games.metrics import count_settled_after_commit
from gamehub.games.seeds import Seeds
from gamehub.games.spin_batch import SpinBatcher
from gamehub.models import Bet, GameSession
from gamehub.models.games import BetKind, BetStatus, SessionStatus
from gamehub.models.ledger import AccountKind, Category
from gamehub.protection.service import BetGuard, Protection
from gamehub.stats.hooks import GameResult, follow_after_commit, outcome_of, record_results
from gamehub.stats.leaderboard import Settled
from gamehub.wallet.ledger import Ledger, Posting, movement_event, wallet_code
from gamehub.wallet.taxes import Taxes, TaxRule, tax_postings

STAKE_DESCRIPTION = "Spin and Win stake"


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
    reward_table_version: int
    # Withheld from the stake and from the winnings (win_amount is net of it).
    stake_tax: int = 0
    winnings_tax: int = 0


def _status(stake: int, win: int) -> BetStatus:
    if win > stake:
        return BetStatus.WON
    if win < stake:
        return BetStatus.LOST
    return BetStatus.PUSH


def _details(segment: int) -> str:
    # The table itself is the version the bet names: versions never change.
    return json.dumps({"segment": segment})


def _won(status: BetStatus) -> bool | None:
    return {BetStatus.WON: True, BetStatus.LOST: False}.get(status)


async def play_spin(
    session: AsyncSession, runtime: Runtime, user_id: int, stake: int
) -> SpinPlayed:
    # A player with limits, a break or a reminder is checked with their wallet locked,
    # on the statement-by-statement path; the batch is for everyone else.
    guard = await Protection(session, runtime).bet_guard(user_id)
    # So is a taxed spin: the two statements of PostgreSQL's path post no tax.
    if guard is not None or Taxes.of(runtime.settings).on_play:
        return await _play(session, runtime, user_id, stake, guard)
    if session.get_bind().dialect.name == "postgresql":
        if not session.in_transaction():
            # Nothing else of the request's is in its transaction (no Idempotency-Key
            # claim, say): the spin may share one with other players' spins.
            played = await batcher(runtime).play(user_id, stake)
            if played is not None:
                return played
        played = (await play_together(session, runtime, [(user_id, stake)])).get(user_id)
        if played is not None:
            return played
    # SQLite and MariaDB; on PostgreSQL a spin whose stake was not taken (the game
    # closed, a stake out of its limits, funds short: this path says which) or a
    # player's first (this path creates the seed).
    return await _play(session, runtime, user_id, stake)


# One batcher per database per process: the spins of this worker share its batches.
_BATCHERS: weakref.WeakKeyDictionary[Database, SpinBatcher[SpinPlayed]] = (
    weakref.WeakKeyDictionary()
)


def batcher(runtime: Runtime) -> SpinBatcher[SpinPlayed]:
    found = _BATCHERS.get(runtime.db)
    if found is None:

        async def play(
            session: AsyncSession, spins: Sequence[tuple[int, int]]
        ) -> dict[int, SpinPlayed]:
            played = await play_together(session, runtime, spins)

            async def note_writers() -> None:
                # The batch's transaction is not its players' requests': their own
                # writes all the same, which their next reads must see (core/replica).
                for user_id in played:
                    await runtime.replica.wrote(user_id)

            after_commit(session, note_writers, phase=Phase.STATE)
            return played

        found = _BATCHERS[runtime.db] = SpinBatcher(runtime.db, play)
    return found


def _bet_update(user_id: int, stake: int, played: SpinPlayed) -> Outgoing:
    return Outgoing(
        "bet_update",
        {
            "game": SPIN_AND_WIN,
            "bet_id": played.bet_id,
            "amount": to_major(stake),
            "win_amount": to_major(played.win_amount),
            "result": played.result,
            "balance": to_major(played.new_balance),
            "stake_tax": to_major(played.stake_tax),
            "winnings_tax": to_major(played.winnings_tax),
        },
        [user_topic(user_id)],
    )


async def play_together(
    session: AsyncSession, runtime: Runtime, spins: Sequence[tuple[int, int]]
) -> dict[int, SpinPlayed]:
    """PostgreSQL: the ``(user id, stake)`` spins, one per player, in two statements.

    Returns the spins played, by user id; one whose stake could not be taken is left out,
    untouched."""
    settings = runtime.settings
    currency = settings.currency
    now = datetime.now(UTC)
    # Looked up before the stakes: opening the house account, the first time, would
    # otherwise hold the wallets' locks while it waits for another opener.
    house_id = await Ledger(session).system_account_id(AccountKind.HOUSE, currency)
    stakes = dict(spins)
    taken = await spin_repository.take_stakes(
        session,
        slug=SPIN_AND_WIN,
        stakes=[
            spin_repository.Stake(user_id, wallet_code(user_id, currency), stake)
            for user_id, stake in spins
        ],
        at=now,
        known_versions=config.known_versions(runtime.db, SPIN_AND_WIN),
    )
    if not taken:
        return {}
    settlements = []
    labels = {}
    for user_id, staked in taken.items():
        stake = stakes[user_id]
        table = _table(runtime, staked)
        outcome = fairness.spin(staked.server_seed, staked.client_seed, staked.nonce, table)
        win = fairness.payout(stake, outcome.multiplier)
        status = _status(stake, win)
        labels[user_id] = outcome
        settlements.append(
            spin_repository.Settlement(
                user_id=user_id,
                staked=staked,
                stake=stake,
                win=win,
                status=status.value,
                result=outcome.label,
                details=_details(outcome.segment_index),
                win_description=f"Spin and Win {outcome.label}",
                outcome=outcome_of(_won(status)).value,
            )
        )
    written = await spin_repository.settle(
        session,
        settlements,
        spin_repository.Terms(
            house_id=house_id,
            currency=currency,
            stake_description=STAKE_DESCRIPTION,
            game_slug=SPIN_AND_WIN,
            session_status=SessionStatus.ENDED.value,
            bet_kind=BetKind.SPIN.value,
            at=now,
        ),
    )
    played: dict[int, SpinPlayed] = {}
    settled = []
    # As on the generic path: the wallet's movements, the bet, then the new standing.
    announced = []
    for spin in settlements:
        row = written[spin.user_id]
        outcome = labels[spin.user_id]
        played[spin.user_id] = result = SpinPlayed(
            bet_id=row.bet_id,
            result=outcome.label,
            multiplier=float(outcome.multiplier),
            win_amount=spin.win,
            new_balance=row.balance,
            server_seed_hash=spin.staked.server_seed_hash,
            client_seed=spin.staked.client_seed,
            nonce=spin.staked.nonce,
            reward_table_version=spin.staked.reward_table_version,
        )
        announced.append(
            movement_event(
                spin.user_id,
                entry_id=row.stake_entry_id,
                category=Category.BET.value,
                amount=-spin.stake,
                balance_after=spin.staked.balance,
                currency=currency,
                reference=f"spin-stake:{row.bet_id}",
                description=STAKE_DESCRIPTION,
                created_at=now,
            )
        )
        if row.win_entry_id is not None:
            announced.append(
                movement_event(
                    spin.user_id,
                    entry_id=row.win_entry_id,
                    category=Category.WIN.value,
                    amount=spin.win,
                    balance_after=row.balance,
                    currency=currency,
                    reference=f"spin-win:{row.bet_id}",
                    description=spin.win_description,
                    created_at=now,
                )
            )
        announced.append(_bet_update(spin.user_id, spin.stake, result))
        settled.append(
            Settled(
                row.result_id, spin.user_id, SPIN_AND_WIN, spin.outcome, spin.win - spin.stake, now
            )
        )
    follow_after_commit(session, runtime, settled, announced)
    count_settled_after_commit(
        session, SPIN_AND_WIN, currency, [(spin.stake, spin.win) for spin in settlements]
    )
    return played


def _table(runtime: Runtime, staked: spin_repository.Staked) -> fairness.RewardTable:
    """The table in force when the stake was taken: its text came back with the stake
    when this process did not hold that version yet."""
    version = staked.reward_table_version
    if staked.reward_table is not None:
        return config.remember(
            runtime.db, SPIN_AND_WIN, staked.game_id, version, staked.reward_table
        )
    table = config.cached_table(runtime.db, staked.game_id, version)
    # The statement leaves the text out only for versions this process said it held,
    # and versions are never forgotten.
    assert table is not None, f"reward table version {version} neither sent nor cached"
    return table


async def _play(
    session: AsyncSession,
    runtime: Runtime,
    user_id: int,
    stake: int,
    guard: BetGuard | None = None,
) -> SpinPlayed:
    """SQLite and MariaDB (and a guarded player anywhere): the same rows, statement by
    statement."""
    game = await playable_game(session, SPIN_AND_WIN)
    check_stake(game, stake)
    # The version the game's row names now, in this transaction: a change committed
    # before it is in force for this spin, on whichever worker.
    version, table = await config.table_in_force(session, runtime.db, game)
    currency = runtime.settings.currency

    ledger = Ledger(session, runtime.events)
    # The wallet's lock first, then the seed's, as on PostgreSQL's path: two spins of a
    # player, one on each path, cannot deadlock.
    wallet = await ledger.wallet(user_id, currency, for_update=True)
    if guard is not None:
        await guard.check(stake)
    house = await ledger.system_account(AccountKind.HOUSE, currency)
    draw = await Seeds(session).draw(user_id)
    seed = draw.seed
    outcome = fairness.spin(seed.server_seed, seed.client_seed, draw.nonce, table)
    # The excise comes off the stake, and the wheel pays on what is left; the tax on
    # winnings comes off what the wheel pays beyond that.
    taxes = Taxes.of(runtime.settings)
    stake_tax = taxes.on_stake(stake)
    in_play = stake - stake_tax
    won = fairness.payout(in_play, outcome.multiplier)
    winnings_tax = taxes.on_winnings(won, in_play)
    win = won - winnings_tax

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
    status = _status(in_play, won)
    bet = Bet(
        session_id=game_session.id,
        user_id=user_id,
        game_id=game.id,
        kind=BetKind.SPIN.value,
        status=status.value,
        amount=stake,
        win_amount=win,
        stake_tax=stake_tax,
        winnings_tax=winnings_tax,
        result=outcome.label,
        server_seed_hash=seed.server_seed_hash,
        client_seed=seed.client_seed,
        nonce=draw.nonce,
        seed_id=seed.id,
        details=_details(outcome.segment_index),
        reward_table_version=version,
        created_at=now,
        settled_at=now,
    )
    session.add(bet)
    await session.flush()
    # Funds short: the error rolls back the bet and the nonce with the rest.
    await ledger.post(
        Category.BET,
        [
            Posting(wallet, -stake),
            Posting(house, in_play),
            *await tax_postings(ledger, TaxRule.STAKE, stake_tax, currency),
        ],
        description=STAKE_DESCRIPTION,
        reference=f"spin-stake:{bet.id}",
    )
    if win:
        await ledger.post(
            Category.WIN,
            [
                Posting(house, -won),
                Posting(wallet, win),
                *await tax_postings(ledger, TaxRule.WINNINGS, winnings_tax, currency),
            ],
            description=f"Spin and Win {outcome.label}",
            reference=f"spin-win:{bet.id}",
        )
    await record_results(
        session, runtime, [GameResult(user_id, SPIN_AND_WIN, win - stake, _won(status))]
    )
    played = SpinPlayed(
        bet_id=bet.id,
        result=outcome.label,
        multiplier=float(outcome.multiplier),
        win_amount=win,
        new_balance=wallet.balance,
        server_seed_hash=seed.server_seed_hash,
        client_seed=seed.client_seed,
        nonce=draw.nonce,
        stake_tax=stake_tax,
        winnings_tax=winnings_tax,
        reward_table_version=version,
    )
    # Registered before the leaderboards' follow-up: the player hears of the bet first.
    bet_update = _bet_update(user_id, stake, played)
    publish_after_commit(session, runtime.events, bet_update.name, bet_update.data, users=[user_id])
    count_settled_after_commit(session, SPIN_AND_WIN, currency, [(stake, win)])
    if guard is not None:
        # After the bet's own event: the reminder reports the session including it.
        await guard.after_bet()
    return played
