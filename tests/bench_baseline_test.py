"""The bench's pgbench baseline (bench/bet.sql) still writes a bet as our schema has it:
a column added to bets without a default must be written there too, or every write
scenario loses its baseline (pgbench aborts on the NOT NULL)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import asyncpg  # type: ignore[import-untyped]
import pytest
from bench.harness import BET_SQL, PGBENCH_WALLETS
from bench.suite import make_pgbench_tables
from sqlalchemy.engine import make_url

from gamehub import migrate
from tests.support.databases import recreate_database


def test_the_pgbench_bet_runs_against_the_migrated_schema(database_url: str) -> None:
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "postgresql":
        pytest.skip("pgbench is PostgreSQL's")
    if parsed.query.get("pgbouncer"):
        pytest.skip("straight to PostgreSQL, as the bench runs it")
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        pytest.skip("needs pgbench (apt-get install postgresql-client)")
    url = parsed.set(database=f"{parsed.database}_pgbench").render_as_string(False)
    asyncio.run(recreate_database(url))
    migrate.upgrade(url)
    target = make_url(url)

    async def prepare() -> None:
        connection = await asyncpg.connect(
            host=target.host, port=target.port, user=target.username, database=target.database
        )
        try:
            await make_pgbench_tables(connection)
        finally:
            await connection.close()

    asyncio.run(prepare())
    done = subprocess.run(
        [
            pgbench, "-n", "-M", "prepared",
            "-h", str(target.host), "-p", str(target.port or 5432), "-U", str(target.username),
            "-c", "2", "-t", "5", "-f", str(BET_SQL),
            "-D", f"wallets={PGBENCH_WALLETS}", "-D", f"house={PGBENCH_WALLETS + 1}",
            str(target.database),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "number of transactions actually processed: 10/10" in done.stdout, done.stdout
