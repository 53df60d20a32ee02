"""Spin and Win's two statements on PostgreSQL: take the stakes, then settle them.

PostgreSQL runs several data-modifying statements as one (``WITH ... UPDATE ...
RETURNING``), so spins cost four round trips: BEGIN, the stakes, the settlements and
COMMIT, as pgbench's bet transaction does. Both statements take arrays, one element per
spin, so that concurrent spins of different players can share them and their
transaction (:mod:`gamehub.games.spin_batch`); a spin played alone is a batch of one.
The generic path in :mod:`gamehub.games.spin` writes the same rows statement by
statement on SQLite and MariaDB.

The first statement also reads the game's settings in force (open, limits, the reward
table's version), so that an operator's change applies to the very next spin, on every
worker, without a round trip of its own.

The statements are built once: building a statement of this size and computing its
cache key cost more CPU than the database spent running it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.models.base import UTCDateTime
from gamehub.models.ledger import Category


@dataclass(frozen=True, slots=True)
class Stake:
    user_id: int
    wallet_code: str
    amount: int


@dataclass(frozen=True, slots=True)
class Staked:
    """A stake taken: the game, the wallet's balance after it and the nonce drawn."""

    game_id: int
    wallet_id: int
    balance: int
    seed_id: int
    server_seed: str
    server_seed_hash: str
    client_seed: str
    nonce: int
    # The version of the reward table in force, read with the game's limits; its text
    # only when the caller did not know that version already.
    reward_table_version: int
    reward_table: str | None


@dataclass(frozen=True, slots=True)
class Settlement:
    """One spin to settle, its stake taken."""

    user_id: int
    staked: Staked
    stake: int
    win: int
    status: str
    result: str
    details: str
    win_description: str
    outcome: str


@dataclass(frozen=True, slots=True)
class Terms:
    """What every spin of one settlement statement shares."""

    house_id: int
    currency: str
    stake_description: str
    game_slug: str
    session_status: str
    bet_kind: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Written:
    bet_id: int
    result_id: int
    balance: int
    # The wallet's ledger entries: the stake's, and the win's when there was one.
    stake_entry_id: int
    win_entry_id: int | None


# A stake is taken only where the game is open (with a reward table), the amount within
# its limits, the funds there, and the player has an active seed and a stats row: a spin
# missing any of them is left out untouched (the caller plays it the generic way, which
# finds out why, or creates the seed). The wallet's and the seed's row locks are held to
# the commit, so a player's spins run one at a time.
_TAKE_STAKES = text(
    """
WITH stakes AS (
    SELECT * FROM unnest(
        CAST(:user_ids AS integer[]), CAST(:wallet_codes AS text[]), CAST(:amounts AS bigint[])
    ) AS t(user_id, wallet_code, amount)
),
debit AS (
    UPDATE ledger_accounts AS a
    SET balance = a.balance - s.amount, updated_at = :at
    FROM stakes AS s, games AS g
    WHERE a.code = s.wallet_code
      AND a.balance >= s.amount
      AND g.slug = :slug AND g.is_active AND s.amount BETWEEN g.min_bet AND g.max_bet
      AND g.reward_table_version IS NOT NULL
      AND EXISTS (
          SELECT 1 FROM fairness_seeds AS f
          WHERE f.user_id = s.user_id AND f.revealed_at IS NULL
      )
      AND EXISTS (SELECT 1 FROM stats AS st WHERE st.user_id = s.user_id)
    RETURNING s.user_id, g.id AS game_id, a.id AS wallet_id, a.balance,
              g.reward_table_version,
              CASE WHEN g.reward_table_version = ANY(CAST(:known_versions AS integer[]))
                   THEN NULL
                   ELSE (SELECT r."table" FROM reward_tables AS r
                         WHERE r.game_id = g.id AND r.version = g.reward_table_version)
              END AS reward_table
),
seed AS (
    UPDATE fairness_seeds AS f
    SET next_nonce = f.next_nonce + 1
    FROM debit AS d
    WHERE f.user_id = d.user_id AND f.revealed_at IS NULL
    RETURNING f.user_id, f.id, f.server_seed, f.server_seed_hash, f.client_seed, f.next_nonce
)
SELECT d.user_id, d.game_id, d.wallet_id, d.balance,
       seed.id, seed.server_seed, seed.server_seed_hash, seed.client_seed, seed.next_nonce,
       d.reward_table_version, d.reward_table
FROM debit AS d LEFT JOIN seed ON seed.user_id = d.user_id
"""
).bindparams(bindparam("at", type_=UTCDateTime()))


class SeedChanged(Exception):
    """A stake was taken but the player's active seed was gone by then (revealed by a
    concurrent rotation): the transaction must be rolled back and the spin retried."""


async def take_stakes(
    session: AsyncSession,
    *,
    slug: str,
    stakes: Sequence[Stake],
    at: datetime,
    known_versions: Sequence[int],
) -> dict[int, Staked]:
    """Debit each stake and draw its nonce, in one statement; by user id, only the
    stakes taken. At most one stake per player. The reward table in force comes back by
    its version, and by its text too unless it is one of ``known_versions``."""
    parameters = {
        "known_versions": list(known_versions),
        "user_ids": [s.user_id for s in stakes],
        "wallet_codes": [s.wallet_code for s in stakes],
        "amounts": [s.amount for s in stakes],
        "slug": slug,
        "at": at,
    }
    connection = await session.connection()
    taken: dict[int, Staked] = {}
    for row in await connection.execute(_TAKE_STAKES, parameters):
        (
            user_id,
            game_id,
            wallet_id,
            balance,
            seed_id,
            server_seed,
            seed_hash,
            client_seed,
            next_nonce,
            table_version,
            table_text,
        ) = row
        if seed_id is None:
            raise SeedChanged(user_id)
        taken[user_id] = Staked(
            game_id=game_id,
            wallet_id=wallet_id,
            balance=int(balance),
            seed_id=seed_id,
            server_seed=server_seed,
            server_seed_hash=seed_hash,
            client_seed=client_seed,
            nonce=int(next_nonce) - 1,
            reward_table_version=int(table_version),
            reward_table=table_text,
        )
    return taken


# Ids are drawn first (nextval is volatile, so the CTE runs once), so that each posting
# can name its bet and each row find its spin; then both ledger transactions with their
# entries (the win's credit and balance_after included), the game session and the bet,
# the stats, and the player's result inserted from the stats row's RETURNING, so that
# its id is taken under the stats row lock (the leaderboards' marks rely on a player's
# result ids following commit order).
_SETTLE = text(
    """
WITH spins AS (
    SELECT * FROM unnest(
        CAST(:user_ids AS integer[]), CAST(:wallet_ids AS integer[]),
        CAST(:game_ids AS integer[]), CAST(:stakes AS bigint[]), CAST(:wins AS bigint[]),
        CAST(:balances AS bigint[]), CAST(:statuses AS text[]), CAST(:results AS text[]),
        CAST(:seed_hashes AS text[]), CAST(:client_seeds AS text[]),
        CAST(:nonces AS bigint[]), CAST(:seed_ids AS integer[]), CAST(:details AS text[]),
        CAST(:win_descriptions AS text[]), CAST(:outcomes AS text[]),
        CAST(:table_versions AS integer[])
    ) AS t(user_id, wallet_id, game_id, stake, win, balance_after_stake, status, result,
           server_seed_hash, client_seed, nonce, seed_id, details, win_description, outcome,
           reward_table_version)
),
ids AS MATERIALIZED (
    SELECT s.*,
           nextval(pg_get_serial_sequence('bets', 'id')) AS bet_id,
           nextval(pg_get_serial_sequence('ledger_transactions', 'id')) AS stake_tx,
           CASE WHEN s.win > 0
                THEN nextval(pg_get_serial_sequence('ledger_transactions', 'id'))
           END AS win_tx
    FROM spins AS s
),
transactions AS (
    INSERT INTO ledger_transactions (id, category, reference, description, currency, created_at)
    SELECT stake_tx, CAST(:bet_category AS text), 'spin-stake:' || bet_id,
           CAST(:stake_description AS text), CAST(:currency AS text), CAST(:at AS timestamp)
    FROM ids
    UNION ALL
    SELECT win_tx, CAST(:win_category AS text), 'spin-win:' || bet_id, win_description,
           CAST(:currency AS text), CAST(:at AS timestamp)
    FROM ids WHERE win_tx IS NOT NULL
),
credit AS (
    UPDATE ledger_accounts AS a
    SET balance = a.balance + i.win, updated_at = :at
    FROM ids AS i
    WHERE a.id = i.wallet_id AND i.win > 0
    RETURNING a.id, a.balance
),
entries AS (
    INSERT INTO ledger_entries (transaction_id, account_id, amount, balance_after, created_at)
    SELECT stake_tx, wallet_id, -stake, balance_after_stake, CAST(:at AS timestamp) FROM ids
    UNION ALL
    SELECT stake_tx, CAST(:house_id AS integer), stake, NULL, CAST(:at AS timestamp) FROM ids
    UNION ALL
    SELECT win_tx, CAST(:house_id AS integer), -win, NULL, CAST(:at AS timestamp)
    FROM ids WHERE win_tx IS NOT NULL
    UNION ALL
    SELECT i.win_tx, i.wallet_id, i.win, c.balance, CAST(:at AS timestamp)
    FROM ids AS i JOIN credit AS c ON c.id = i.wallet_id
    RETURNING id, transaction_id, account_id
),
game_session AS (
    INSERT INTO game_sessions (user_id, game_id, status, started_at, ended_at)
    SELECT user_id, game_id, CAST(:session_status AS text), CAST(:at AS timestamp),
           CAST(:at AS timestamp)
    FROM ids
    RETURNING id, user_id
),
bet AS (
    INSERT INTO bets (id, session_id, user_id, game_id, kind, status, amount, win_amount,
                      result, server_seed_hash, client_seed, nonce, seed_id, details,
                      reward_table_version, created_at, settled_at)
    SELECT i.bet_id, g.id, i.user_id, i.game_id, CAST(:bet_kind AS text), i.status, i.stake,
           i.win, i.result, i.server_seed_hash, i.client_seed, i.nonce, i.seed_id, i.details,
           i.reward_table_version, CAST(:at AS timestamp), CAST(:at AS timestamp)
    FROM ids AS i JOIN game_session AS g ON g.user_id = i.user_id
    RETURNING id, user_id
),
player_stats AS (
    UPDATE stats AS st
    SET win_count = st.win_count + CAST(i.status = 'won' AS integer),
        loss_count = st.loss_count + CAST(i.status = 'lost' AS integer),
        earnings = st.earnings + (i.win - i.stake)
    FROM ids AS i
    WHERE st.user_id = i.user_id
    RETURNING st.user_id
),
result AS (
    INSERT INTO player_results (user_id, game, outcome, earnings, created_at)
    SELECT i.user_id, CAST(:game_slug AS text), i.outcome, i.win - i.stake,
           CAST(:at AS timestamp)
    FROM player_stats AS p JOIN ids AS i ON i.user_id = p.user_id
    RETURNING id, user_id
)
SELECT b.user_id, b.id, r.id, COALESCE(c.balance, i.balance_after_stake),
       stake_entry.id, win_entry.id
FROM ids AS i
JOIN bet AS b ON b.user_id = i.user_id
JOIN result AS r ON r.user_id = i.user_id
JOIN entries AS stake_entry
    ON stake_entry.transaction_id = i.stake_tx AND stake_entry.account_id = i.wallet_id
LEFT JOIN entries AS win_entry
    ON win_entry.transaction_id = i.win_tx AND win_entry.account_id = i.wallet_id
LEFT JOIN credit AS c ON c.id = i.wallet_id
"""
).bindparams(bindparam("at", type_=UTCDateTime()))


async def settle(
    session: AsyncSession, spins: Sequence[Settlement], terms: Terms
) -> dict[int, Written]:
    """Settle each spin whose stake was taken, in one statement; by user id."""
    parameters: dict[str, Any] = {
        "user_ids": [s.user_id for s in spins],
        "wallet_ids": [s.staked.wallet_id for s in spins],
        "game_ids": [s.staked.game_id for s in spins],
        "stakes": [s.stake for s in spins],
        "wins": [s.win for s in spins],
        "balances": [s.staked.balance for s in spins],
        "statuses": [s.status for s in spins],
        "results": [s.result for s in spins],
        "seed_hashes": [s.staked.server_seed_hash for s in spins],
        "client_seeds": [s.staked.client_seed for s in spins],
        "nonces": [s.staked.nonce for s in spins],
        "seed_ids": [s.staked.seed_id for s in spins],
        "details": [s.details for s in spins],
        "win_descriptions": [s.win_description for s in spins],
        "outcomes": [s.outcome for s in spins],
        "table_versions": [s.staked.reward_table_version for s in spins],
        "house_id": terms.house_id,
        "currency": terms.currency,
        "stake_description": terms.stake_description,
        "game_slug": terms.game_slug,
        "session_status": terms.session_status,
        "bet_kind": terms.bet_kind,
        "at": terms.at,
        "bet_category": Category.BET.value,
        "win_category": Category.WIN.value,
    }
    connection = await session.connection()
    rows = await connection.execute(_SETTLE, parameters)
    return {
        user_id: Written(
            bet_id=int(bet_id),
            result_id=int(result_id),
            balance=int(balance),
            stake_entry_id=int(stake_entry),
            win_entry_id=None if win_entry is None else int(win_entry),
        )
        for user_id, bet_id, result_id, balance, stake_entry, win_entry in rows
    }
