"""Bets per second through the ledger: append-only house side (ours) against a house
balance row that every bet also updates (the hot row ARCHITECTURE.md warns about).

Each bet is one database transaction: debit a player's wallet by a guarded UPDATE and
credit the house. Many players bet at once, each on their own wallet, so the only
shared row is the house's, in the second variant. Both variants run in one process, one
after the other, against the same database, and the ratio is printed side by side.

    python -m bench.ledger_postings [--database-url URL] [--bets 3000] [--players 32]

The database is created from scratch under the name given (default: a SQLite file in a
temporary directory; for PostgreSQL e.g. postgresql+asyncpg://postgres@127.0.0.1/gamehub_bench).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import update
from tests.support.databases import recreate_database

from gamehub import migrate
from gamehub.core.db import Database
from gamehub.models import Account
from gamehub.models.ledger import AccountKind, Category
from gamehub.wallet.ledger import Ledger, Posting

STAKE = 100


async def _open_wallets(database: Database, players: int, bets: int) -> list[int]:
    async with database.unit_of_work() as session:
        accounts = [
            Account(
                code=f"wallet:bench-{uuid.uuid4().hex}:KES",
                kind=AccountKind.WALLET.value,
                currency="KES",
                # Enough for every bet the player will place; seeded without entries, so
                # this bench's database is not one for `gamehub ledger verify`.
                balance=STAKE * bets,
            )
            for _ in range(players)
        ]
        session.add_all(accounts)
        await session.flush()
        await Ledger(session).system_account(AccountKind.HOUSE, "KES")
        return [a.id for a in accounts]


async def _bet(database: Database, wallet_id: int, hot_row: bool) -> None:
    async with database.unit_of_work() as session:
        ledger = Ledger(session)
        wallet = await session.get(Account, wallet_id)
        assert wallet is not None
        house = await ledger.system_account(AccountKind.HOUSE, "KES")
        await ledger.post(Category.BET, [Posting(wallet, -STAKE), Posting(house, STAKE)])
        if hot_row:
            await session.execute(
                update(Account)
                .where(Account.id == house.id)
                .values(balance=Account.balance + STAKE)
            )


async def _run(database: Database, wallets: list[int], bets: int, hot_row: bool) -> float:
    per_player = bets // len(wallets)

    async def player(wallet_id: int) -> None:
        for _ in range(per_player):
            await _bet(database, wallet_id, hot_row)

    started = time.perf_counter()
    await asyncio.gather(*(player(w) for w in wallets))
    return per_player * len(wallets) / (time.perf_counter() - started)


async def main(url: str, bets: int, players: int) -> None:
    await recreate_database(url)
    # Alembic runs its own event loop.
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(url)
    try:
        append_only = await _run(
            database, await _open_wallets(database, players, bets), bets, False
        )
        hot = await _run(database, await _open_wallets(database, players, bets), bets, True)
    finally:
        await database.dispose()
    backend = url.split(":", 1)[0]
    print(f"ledger postings on {backend}: {bets} bets by {players} concurrent players")
    print(f"  {'house side':<28}{'bets/s':>10}")
    print(f"  {'append-only (ours)':<28}{append_only:>10.0f}")
    print(f"  {'one house balance row':<28}{hot:>10.0f}")
    print(f"  ratio append-only / hot row: {append_only / hot:.2f}x")


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--bets", type=int, default=3000)
    parser.add_argument("--players", type=int, default=32)
    args = parser.parse_args(argv)
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    asyncio.run(main(url, args.bets, args.players))


if __name__ == "__main__":
    cli()
