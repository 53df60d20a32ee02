"""The read replica (GAMEHUB_DATABASE_READ_URL): the display routes read a PostgreSQL
streaming replica of their own, users read their own writes from the primary, and a
replica out of reach costs nothing but its speed.

One throwaway primary and one streaming replica, on spare loopback ports, serve the whole
module (Debian's PostgreSQL server packages; in CI they must be there). Replay is paused
on the replica to make its lag as long as a test needs.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from reliability.services import Postgres
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub import migrate
from gamehub.app import create_app
from gamehub.core.clock import ManualClock
from gamehub.core.replica import wrote_key
from gamehub.core.runtime import Runtime
from tests.conftest import make_settings, redis_client, serve_in_process
from tests.games.support import Player, player
from tests.wallet.support import fund

WINDOW_SECONDS = 5


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Postgres, Postgres]]:
    """A primary with the schema, and its streaming replica."""
    if not glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs the read replica's tests: install Debian's postgresql packages")
        pytest.skip("needs PostgreSQL's server binaries (apt-get install postgresql)")
    # Not under pytest's temporary directory: the server runs as postgres, which may not
    # enter root's.
    roots = [Path(tempfile.mkdtemp(prefix="gamehub-replica-")) for _ in range(2)]
    primary = Postgres(roots[0])
    primary.start()
    try:
        primary.create_database()
        migrate.upgrade(primary.url)
        standby = Postgres(roots[1], standby_of=primary)
        standby.start()
        yield primary, standby
        standby.stop()
    finally:
        primary.stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


async def sql(server: Postgres, query: str, *args: Any) -> Any:
    connection = await asyncpg.connect(
        host="127.0.0.1", port=server.port, user="postgres", database="gamehub"
    )
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def caught_up(primary: Postgres, standby: Postgres) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    # The insert position: the throwaway primary commits asynchronously, so a commit may
    # still be in its WAL buffers, past the position written out.
    target = await sql(primary, "SELECT pg_current_wal_insert_lsn()::text")
    replayed = "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn"
    with anyio.fail_after(10):
        # A standby tells no one when it has replayed a position: it is asked.
        while not await sql(standby, replayed, target):  # noqa: ASYNC110
            await anyio.sleep(0.02)


@asynccontextmanager
async def replay_paused(primary: Postgres, standby: Postgres) -> AsyncIterator[None]:
    """The replica frozen where the primary is now, until the block ends."""
    await caught_up(primary, standby)
    await sql(standby, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        await sql(standby, "SELECT pg_wal_replay_resume()")


@asynccontextmanager
async def app_with_replica(
    servers: tuple[Postgres, Postgres], redis_url: str | None, clock: ManualClock
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    primary, standby = servers
    settings = make_settings(
        primary.url,
        redis_url,
        database_read_url=standby.url,
        read_after_write_seconds=WINDOW_SECONDS,
        game_jobs_interval_seconds=0,
        mpesa_reconcile_interval_seconds=0,
    )
    application = create_app(settings, clock=clock)
    async with serve_in_process(application) as client:
        yield client, application.state.runtime


async def spin(client: httpx.AsyncClient, who: Player) -> int:
    response = await client.post(
        "/games/spin-and-win/play", headers=who.headers, json={"bet_amount": 10}
    )
    assert response.status_code == 200, response.text
    bet_id: int = response.json()["bet_id"]
    return bet_id


async def stats_of(client: httpx.AsyncClient, username: str, asked_by: Player) -> int:
    response = await client.post("/stats", headers=asked_by.headers, json={"username": username})
    return response.status_code


async def test_a_player_reads_their_own_write_while_others_read_the_replica(
    servers: tuple[Postgres, Postgres], redis_url: str | None
) -> None:
    primary, standby = servers
    async with app_with_replica(servers, redis_url, ManualClock()) as (client, runtime):
        b = await player(client, runtime)
        async with replay_paused(primary, standby):
            # Registered (a request on nobody's behalf yet) after the replica froze.
            a = await player(client, runtime)
            bet_id = await spin(client, a)

            history = (await client.get("/history", headers=a.headers)).json()
            assert [item["id"] for item in history] == [bet_id]
            assert (await client.get("/stats", headers=a.headers)).json()["overall"][
                "total_bets"
            ] == 1
            assert await stats_of(client, a.username, asked_by=a) == 200
            # B has written nothing: B reads the replica, which has not heard of A yet.
            assert await stats_of(client, a.username, asked_by=b) == 404
        await caught_up(primary, standby)
        assert await stats_of(client, a.username, asked_by=b) == 200


async def test_the_window_ends_and_money_never_reads_the_replica(
    servers: tuple[Postgres, Postgres], redis_url: str | None
) -> None:
    primary, standby = servers
    clock = ManualClock()
    async with app_with_replica(servers, redis_url, clock) as (client, runtime):
        a = await player(client, runtime, 100_000)
        async with replay_paused(primary, standby):
            await spin(client, a)
            if redis_url is None:
                clock.advance(WINDOW_SECONDS)
            else:
                # Shared by every worker, and gone by itself when the window ends.
                redis = redis_client(redis_url)
                key = runtime.settings.redis_prefix + wrote_key(a.id)
                try:
                    assert 0 < await redis.pttl(key) <= WINDOW_SECONDS * 1000
                    await redis.delete(key)
                finally:
                    await redis.aclose()

            # The window is over: A's display routes read the frozen replica again...
            assert (await client.get("/history", headers=a.headers)).json() == []
            movements = (await client.get("/wallet/transactions", headers=a.headers)).json()
            assert [item["category"] for item in movements["items"]] == ["adjustment"]
            # ...but the balance, and what a spin decides, are the primary's.
            balance = (await client.get("/wallet", headers=a.headers)).json()["balance"]
            profile = (await client.get("/profile", headers=a.headers)).json()["balance"]
            on_primary = await sql(
                primary, "SELECT balance FROM ledger_accounts WHERE code = $1", f"wallet:{a.id}:KES"
            )
            on_replica = await sql(
                standby, "SELECT balance FROM ledger_accounts WHERE code = $1", f"wallet:{a.id}:KES"
            )
            assert on_replica == 100_000
            assert balance == profile == on_primary / 100
            # A second spin (played in a batch of this worker's spins, not in the
            # request's transaction) is A's own write too: A reads it from the primary.
            await spin(client, a)
            history = (await client.get("/history", headers=a.headers)).json()
            assert len(history) == 2


async def test_a_replica_out_of_reach_leaves_the_reads_to_the_primary(
    servers: tuple[Postgres, Postgres], redis_url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    _, standby = servers
    async with app_with_replica(servers, redis_url, ManualClock()) as (client, runtime):
        a = await player(client, runtime, 0)
        standby.stop()
        try:
            await fund(runtime, a.username, 5_000)
            with caplog.at_level(logging.WARNING, logger="gamehub.replica"):
                for _ in range(2):
                    movements = await client.get("/wallet/transactions", headers=a.headers)
                    assert movements.status_code == 200
                    assert len(movements.json()["items"]) == 1
                    assert (await client.get("/history", headers=a.headers)).status_code == 200
                    assert (await client.get("/stats", headers=a.headers)).status_code == 200
                    assert await stats_of(client, a.username, asked_by=a) == 200
            outages = [r for r in caplog.records if "read replica unavailable" in r.getMessage()]
            assert len(outages) == 1
        finally:
            standby.start()


async def test_a_request_that_began_its_transaction_reads_in_it(
    servers: tuple[Postgres, Postgres], redis_url: str | None
) -> None:
    primary, standby = servers
    async with app_with_replica(servers, redis_url, ManualClock()) as (_, runtime):
        served_by: list[int | None] = []

        async def step(session: AsyncSession) -> None:
            served_by.append((await session.connection()).engine.url.port)

        async with runtime.db.unit_of_work() as session:
            await runtime.replica.read(session, None, step)
            await session.execute(text("SELECT 1"))  # the request's transaction begins
            await runtime.replica.read(session, None, step)
        assert served_by == [standby.port, primary.port]
