"""PostgreSQL through PgBouncer in transaction pooling (Debian's package, started here on a
spare port), the way docs/deploy.md puts it in production.

The bouncer is given one server connection, so that every client's statements meet on
it: what one client leaves on a server connection, the next one finds.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from reliability.services import PgBouncer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from gamehub.core.db import Database
from tests.deploy.support import require_binary
from tests.support.api import bearer, register
from tests.support.apps import Served, served
from tests.wallet.support import fund


@contextmanager
def bouncing(database_url: str, pool_size: int) -> Iterator[PgBouncer]:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("PgBouncer stands in front of PostgreSQL")
    require_binary("pgbouncer", "pgbouncer")
    # Not under pytest's tmp_path: PgBouncer runs as the postgres user, who cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="gamehub-pgbouncer-"))
    os.chmod(root, 0o755)
    server = PgBouncer(root, make_url(database_url).port or 5432, pool_size=pool_size)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def bouncer(database_url: str) -> Iterator[PgBouncer]:
    """One server connection: every client's statements meet on it."""
    with bouncing(database_url, pool_size=1) as server:
        yield server


@pytest.fixture
def two_servers(database_url: str) -> Iterator[PgBouncer]:
    with bouncing(database_url, pool_size=2) as server:
        yield server


def through(bouncer: PgBouncer, database_url: str, *, flag: bool = True) -> str:
    url = bouncer.url(make_url(database_url).database or "")
    return url if flag else url.removesuffix("?pgbouncer=true")


@pytest.fixture
async def api(bouncer: PgBouncer, database_url: str) -> AsyncIterator[Served]:
    # The in-process backend: what passes through the bouncer is all the database's.
    async with served(through(bouncer, database_url), None) as app:
        yield app


async def prepared_on_one_server_then_run_on_the_other(url: str) -> None:
    """A statement prepared in one transaction, run again in a second one while another
    client holds the server connection the first one ran on."""
    one, other = Database(url), Database(url)
    try:
        async with one.unit_of_work() as session:
            await session.execute(text("SELECT count(*) FROM games"))
        async with other.unit_of_work() as holding:
            await holding.execute(text("SELECT 1"))
            async with one.unit_of_work() as session:
                await session.execute(text("SELECT count(*) FROM games"))
    finally:
        await one.dispose()
        await other.dispose()


async def test_without_the_flag_a_cached_statement_is_missing_on_another_server_connection(
    two_servers: PgBouncer, database_url: str
) -> None:
    with pytest.raises(DBAPIError, match="does not exist"):
        await prepared_on_one_server_then_run_on_the_other(
            through(two_servers, database_url, flag=False)
        )


async def test_with_the_flag_no_statement_depends_on_its_server_connection(
    two_servers: PgBouncer, database_url: str
) -> None:
    await prepared_on_one_server_then_run_on_the_other(through(two_servers, database_url))


async def test_with_the_flag_clients_share_one_server_connection(
    bouncer: PgBouncer, database_url: str
) -> None:
    databases = [Database(through(bouncer, database_url)) for _ in range(3)]
    try:
        for _ in range(2):
            for database in databases:
                async with database.unit_of_work() as session:
                    assert (await session.execute(text("SELECT 41 + 1"))).scalar() == 42
                async with database.reader() as connection:
                    assert (await connection.execute(text("SELECT 2"))).scalar() == 2
    finally:
        for database in databases:
            await database.dispose()


async def test_a_player_s_flow_and_concurrent_spins_pass_through_one_server_connection(
    api: Served,
) -> None:
    players = [await register(api.client) for _ in range(6)]
    for player in players:
        await fund(api.runtime, player["username"], 100_000)

    async def spins(player: dict[str, str]) -> list[int]:
        codes = []
        for _ in range(3):
            answer = await api.client.post(
                "/games/spin-and-win/play",
                headers=bearer(player["access_token"]),
                json={"bet_amount": 10},
            )
            codes.append(answer.status_code)
        return codes

    # Concurrent requests queue for the bouncer's one server connection: none of them
    # may need a second connection while it holds the first.
    results = await asyncio.gather(*(spins(player) for player in players))
    assert results == [[200, 200, 200]] * len(players)
    history = await api.client.get("/history", headers=bearer(players[0]["access_token"]))
    assert history.status_code == 200
    wallet = await api.client.get("/wallet", headers=bearer(players[0]["access_token"]))
    assert wallet.status_code == 200, wallet.text
