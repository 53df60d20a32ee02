"""Spin and Win's two statements on PostgreSQL: take the stake, then settle.

PostgreSQL runs several data-modifying statements as one (``WITH ... UPDATE ...
RETURNING``), so a spin costs four round trips: BEGIN, the stake, the settlement and
COMMIT, as pgbench's bet transaction does. The generic path in :mod:`gamehub.games.spin`
writes the same rows statement by statement on SQLite and MariaDB.

The statements are built once, with bound parameters: building a statement of this size
and computing its cache key cost more CPU than the database spent running it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Text,
    bindparam,
    exists,
    insert,
    literal_column,
    null,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.selectable import Select

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
class Written:
    bet_id: int
    # None when the player had no stats row (accounts older than stats): the caller adds
    # the row, the stats and the result the generic way.
    result_id: int | None
    balance: int


async def _core(session: AsyncSession) -> AsyncConnection:
    # Executed on the session's connection, as Core statements: the ORM's handling of a
    # statement (its compile step and result loading) would be all cost and no use here.
    return await session.connection()


def _param(name: str, type_: Any) -> Any:
    # Prefixed: a parameter named like a column of a table a statement inserts into or
    # updates (user_id, status) would be taken as a value for that column.
    return bindparam(f"p_{name}", type_=type_)


def _take_stake_statement() -> Select[Any]:
    stake = _param("stake", BigInteger)
    game = (
        select(Game.id)
        .where(
            Game.slug == _param("slug", String),
            Game.is_active,
            Game.min_bet <= stake,
            Game.max_bet >= stake,
        )
        .cte("game")
    )
    debit = (
        update(Account)
        .where(
            Account.code == _param("wallet_code", String),
            Account.balance >= stake,
            exists(select(game.c.id)),
        )
        .values(balance=Account.balance - stake, updated_at=_param("at", UTCDateTime()))
        .returning(Account.id, Account.balance)
        .cte("debit")
    )
    seed = (
        update(FairnessSeed)
        .where(
            FairnessSeed.user_id == _param("user_id", Integer),
            FairnessSeed.revealed_at.is_(None),
            exists(select(debit.c.id)),
        )
        .values(next_nonce=FairnessSeed.next_nonce + literal_column("1"))
        .returning(
            FairnessSeed.id,
            FairnessSeed.server_seed,
            FairnessSeed.server_seed_hash,
            FairnessSeed.client_seed,
            FairnessSeed.next_nonce,
        )
        .cte("seed")
    )
    return (
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


_TAKE_STAKE = _take_stake_statement()


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
    parameters = {
        "p_slug": slug,
        "p_wallet_code": wallet_code,
        "p_user_id": user_id,
        "p_stake": stake,
        "p_at": at,
    }
    row = (await (await _core(session)).execute(_TAKE_STAKE, parameters)).first()
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


def _settle_statement(*, wins: bool) -> Select[Any]:
    at = _param("at", UTCDateTime())
    wallet_id = _param("wallet_id", Integer)
    house_id = _param("house_id", Integer)
    stake = _param("stake", BigInteger)
    user_id = _param("user_id", Integer)
    currency = _param("currency", String)
    stake_tx = (
        insert(LedgerTransaction)
        .values(
            category=Category.BET.value,
            description=_param("stake_description", String),
            currency=currency,
            created_at=at,
        )
        .returning(LedgerTransaction.id)
        .cte("stake_tx")
    )
    balance_after_stake = _param("balance_after_stake", BigInteger)
    rows = [
        select(stake_tx.c.id, wallet_id, -stake, balance_after_stake, at),
        select(stake_tx.c.id, house_id, stake, null(), at),
    ]
    ctes: list[Any] = [stake_tx]
    balance: Any = balance_after_stake
    credit = None
    if wins:
        win = _param("win", BigInteger)
        win_tx = (
            insert(LedgerTransaction)
            .values(
                category=Category.WIN.value,
                description=_param("win_description", String),
                currency=currency,
                created_at=at,
            )
            .returning(LedgerTransaction.id)
            .cte("win_tx")
        )
        credit = (
            update(Account)
            .where(Account.id == wallet_id)
            .values(balance=Account.balance + win, updated_at=at)
            .returning(Account.balance)
            .cte("credit")
        )
        rows += [
            select(win_tx.c.id, house_id, -win, null(), at),
            select(win_tx.c.id, wallet_id, win, credit.c.balance, at).select_from(
                win_tx.join(credit, true())
            ),
        ]
        ctes += [win_tx, credit]
        balance = credit.c.balance
    entries = (
        insert(LedgerEntry)
        .from_select(
            ["transaction_id", "account_id", "amount", "balance_after", "created_at"],
            union_all(*rows),
        )
        .returning(LedgerEntry.id)
        .cte("entries")
    )
    game_id = _param("game_id", Integer)
    game_session = (
        insert(GameSession)
        .values(
            user_id=user_id,
            game_id=game_id,
            status=_param("session_status", String),
            started_at=at,
            ended_at=at,
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
                user_id,
                game_id,
                _param("bet_kind", String),
                _param("status", String),
                stake,
                _param("win_amount", BigInteger),
                _param("result", String),
                _param("server_seed_hash", String),
                _param("client_seed", String),
                _param("nonce", BigInteger),
                _param("seed_id", Integer),
                _param("details", Text),
                at,
                at,
            ),
        )
        .returning(Bet.id)
        .cte("bet")
    )
    earnings = _param("earnings", BigInteger)
    stats = (
        update(Stats)
        .where(Stats.user_id == user_id)
        .values(
            win_count=Stats.win_count + _param("wins", Integer),
            loss_count=Stats.loss_count + _param("losses", Integer),
            earnings=Stats.earnings + earnings,
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
                _param("game_slug", String),
                _param("outcome", String),
                earnings,
                at,
            ),
        )
        .returning(PlayerResult.id)
        .cte("result")
    )
    query = (
        select(bet.c.id, select(result.c.id).scalar_subquery(), balance)
        .select_from(bet)
        .add_cte(*ctes, entries, game_session, stats, result)
    )
    if credit is not None:
        query = query.join(credit, true())
    return query


_SETTLE_LOSS = _settle_statement(wins=False)
_SETTLE_WIN = _settle_statement(wins=True)


async def settle(session: AsyncSession, staked: Staked, spin: Settlement) -> Written:
    """Post the stake's ledger transaction and, for a win, the payout's; record the game
    session, the bet, the player's stats and result, in one statement."""
    parameters: dict[str, Any] = {
        "p_at": spin.at,
        "p_wallet_id": staked.wallet_id,
        "p_house_id": spin.house_id,
        "p_stake": spin.stake,
        "p_user_id": spin.user_id,
        "p_currency": spin.currency,
        "p_stake_description": spin.stake_description,
        "p_balance_after_stake": staked.balance,
        "p_game_id": staked.game_id,
        "p_session_status": spin.session_status,
        "p_bet_kind": spin.bet_kind,
        "p_status": spin.status,
        "p_win_amount": spin.win,
        "p_result": spin.result,
        "p_server_seed_hash": staked.server_seed_hash,
        "p_client_seed": staked.client_seed,
        "p_nonce": staked.nonce,
        "p_seed_id": staked.seed_id,
        "p_details": spin.details,
        "p_earnings": spin.win - spin.stake,
        "p_wins": int(spin.status == "won"),
        "p_losses": int(spin.status == "lost"),
        "p_game_slug": spin.game_slug,
        "p_outcome": spin.outcome,
    }
    if spin.win:
        parameters |= {"p_win": spin.win, "p_win_description": spin.win_description}
    statement = _SETTLE_WIN if spin.win else _SETTLE_LOSS
    row = (await (await _core(session)).execute(statement, parameters)).one()
    return Written(bet_id=int(row[0]), result_id=row[1], balance=int(row[2]))
