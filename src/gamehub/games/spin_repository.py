"""Spin and Win's two statements on PostgreSQL: take the stake, then settle.

PostgreSQL runs several data-modifying statements as one (``WITH ... UPDATE ...
RETURNING``), so a spin costs four round trips: BEGIN, the stake, the settlement and
COMMIT, as pgbench's bet transaction does. The generic path in :mod:`gamehub.games.spin`
writes the same rows statement by statement on SQLite and MariaDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Text,
    exists,
    insert,
    literal,
    null,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.models import (
    Account,
    Bet,
    FairnessSeed,
    Game,
    GameSession,
    LedgerEntry,
    LedgerTransaction,
    PlayerResult,
    Stats,
)
from gamehub.models.base import UTCDateTime
from gamehub.models.ledger import Category


@dataclass(frozen=True, slots=True)
class Staked:
    """The stake taken: the game, the wallet's balance after it and the nonce drawn.

    ``seed_id`` is None when the player has no active seed yet: the caller creates one."""

    game_id: int
    wallet_id: int
    balance: int
    seed_id: int | None
    server_seed: str
    server_seed_hash: str
    client_seed: str
    nonce: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """What settling a spin needs, beyond the stake taken."""

    user_id: int
    stake: int
    win: int
    house_id: int
    currency: str
    stake_description: str
    win_description: str
    status: str
    result: str
    details: str
    outcome: str
    game_slug: str
    session_status: str
    bet_kind: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Settled:
    bet_id: int
    # None when the player had no stats row (accounts older than stats): the caller adds
    # the row, the stats and the result the generic way.
    result_id: int | None
    balance: int


async def take_stake(
    session: AsyncSession,
    *,
    slug: str,
    wallet_code: str,
    user_id: int,
    stake: int,
    at: datetime,
) -> Staked | None:
    """Debit the stake, if the game is open, the stake within its limits and the funds
    there, and take the next nonce of the player's active seed, in one statement.

    None when nothing was done (the caller finds out why); the wallet's and the seed's
    row locks are held from here to the commit, so a player's spins run one at a time.
    """
    game = (
        select(Game.id)
        .where(Game.slug == slug, Game.is_active, Game.min_bet <= stake, Game.max_bet >= stake)
        .cte("game")
    )
    debit = (
        update(Account)
        .where(Account.code == wallet_code, Account.balance >= stake, exists(select(game.c.id)))
        .values(balance=Account.balance - stake, updated_at=at)
        .returning(Account.id, Account.balance)
        .cte("debit")
    )
    seed = (
        update(FairnessSeed)
        .where(
            FairnessSeed.user_id == user_id,
            FairnessSeed.revealed_at.is_(None),
            exists(select(debit.c.id)),
        )
        .values(next_nonce=FairnessSeed.next_nonce + 1)
        .returning(
            FairnessSeed.id,
            FairnessSeed.server_seed,
            FairnessSeed.server_seed_hash,
            FairnessSeed.client_seed,
            FairnessSeed.next_nonce,
        )
        .cte("seed")
    )
    query = (
        select(
            game.c.id,
            debit.c.id,
            debit.c.balance,
            seed.c.id,
            seed.c.server_seed,
            seed.c.server_seed_hash,
            seed.c.client_seed,
            seed.c.next_nonce,
        )
        .select_from(debit)
        .join(game, true())
        .outerjoin(seed, true())
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    game_id, wallet_id, balance, seed_id, server_seed, seed_hash, client_seed, next_nonce = row
    return Staked(
        game_id=game_id,
        wallet_id=wallet_id,
        balance=int(balance),
        seed_id=seed_id,
        server_seed=server_seed or "",
        server_seed_hash=seed_hash or "",
        client_seed=client_seed or "",
        nonce=-1 if next_nonce is None else int(next_nonce) - 1,
    )


async def settle(session: AsyncSession, staked: Staked, spin: Settlement) -> Settled:
    """Post the stake's ledger transaction and, for a win, the payout's; record the game
    session, the bet, the player's stats and result, in one statement."""
    at = literal(spin.at, UTCDateTime())
    stake_tx = (
        insert(LedgerTransaction)
        .values(
            category=Category.BET.value,
            description=spin.stake_description,
            currency=spin.currency,
            created_at=spin.at,
        )
        .returning(LedgerTransaction.id)
        .cte("stake_tx")
    )
    rows = [
        select(
            stake_tx.c.id,
            literal(staked.wallet_id, Integer),
            literal(-spin.stake, BigInteger),
            literal(staked.balance, BigInteger),
            at,
        ),
        select(
            stake_tx.c.id,
            literal(spin.house_id, Integer),
            literal(spin.stake, BigInteger),
            null(),
            at,
        ),
    ]
    ctes = [stake_tx]
    balance_column = literal(staked.balance, BigInteger)
    if spin.win:
        win_tx = (
            insert(LedgerTransaction)
            .values(
                category=Category.WIN.value,
                description=spin.win_description,
                currency=spin.currency,
                created_at=spin.at,
            )
            .returning(LedgerTransaction.id)
            .cte("win_tx")
        )
        credit = (
            update(Account)
            .where(Account.id == staked.wallet_id)
            .values(balance=Account.balance + spin.win, updated_at=spin.at)
            .returning(Account.balance)
            .cte("credit")
        )
        rows += [
            select(
                win_tx.c.id,
                literal(spin.house_id, Integer),
                literal(-spin.win, BigInteger),
                null(),
                at,
            ),
            select(
                win_tx.c.id,
                literal(staked.wallet_id, Integer),
                literal(spin.win, BigInteger),
                credit.c.balance,
                at,
            ).select_from(win_tx.join(credit, true())),
        ]
        ctes += [win_tx, credit]
        balance_column = credit.c.balance  # type: ignore[assignment]
    entries = (
        insert(LedgerEntry)
        .from_select(
            ["transaction_id", "account_id", "amount", "balance_after", "created_at"],
            union_all(*rows),
        )
        .returning(LedgerEntry.id)
        .cte("entries")
    )
    game_session = (
        insert(GameSession)
        .values(
            user_id=spin.user_id,
            game_id=staked.game_id,
            status=spin.session_status,
            started_at=spin.at,
            ended_at=spin.at,
        )
        .returning(GameSession.id)
        .cte("game_session")
    )
    bet = (
        insert(Bet)
        .from_select(
            [
                "session_id",
                "user_id",
                "game_id",
                "kind",
                "status",
                "amount",
                "win_amount",
                "result",
                "server_seed_hash",
                "client_seed",
                "nonce",
                "seed_id",
                "details",
                "created_at",
                "settled_at",
            ],
            select(
                game_session.c.id,
                literal(spin.user_id, Integer),
                literal(staked.game_id, Integer),
                literal(spin.bet_kind, String),
                literal(spin.status, String),
                literal(spin.stake, BigInteger),
                literal(spin.win, BigInteger),
                literal(spin.result, String),
                literal(staked.server_seed_hash, String),
                literal(staked.client_seed, String),
                literal(staked.nonce, BigInteger),
                literal(staked.seed_id, Integer),
                literal(spin.details, Text),
                at,
                at,
            ),
        )
        .returning(Bet.id)
        .cte("bet")
    )
    won = spin.status == "won"
    lost = spin.status == "lost"
    stats = (
        update(Stats)
        .where(Stats.user_id == spin.user_id)
        .values(
            win_count=Stats.win_count + int(won),
            loss_count=Stats.loss_count + int(lost),
            earnings=Stats.earnings + (spin.win - spin.stake),
        )
        .returning(Stats.user_id)
        .cte("stats")
    )
    # Inserted from the stats row's RETURNING, so after its row lock is taken: a
    # player's result ids then follow commit order, which the leaderboards' marks need.
    result = (
        insert(PlayerResult)
        .from_select(
            ["user_id", "game", "outcome", "earnings", "created_at"],
            select(
                stats.c.user_id,
                literal(spin.game_slug, String),
                literal(spin.outcome, String),
                literal(spin.win - spin.stake, BigInteger),
                at,
            ),
        )
        .returning(PlayerResult.id)
        .cte("result")
    )
    query = (
        select(bet.c.id, select(result.c.id).scalar_subquery(), balance_column)
        .select_from(bet)
        .add_cte(*ctes, entries, game_session, stats, result)
    )
    if spin.win:
        query = query.join(ctes[-1], true())
    row = (await session.execute(query)).one()
    return Settled(bet_id=int(row[0]), result_id=row[1], balance=int(row[2]))
