"""A database outage answers 503 with Retry-After, never 500, and the pool recovers by
itself when the database is back.

The end-to-end test stops and starts a throwaway PostgreSQL cluster of its own (Debian's
binaries, on a spare loopback port), never the shared servers. The error mapping is
checked on the real exceptions of every driver.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import text

from gamehub import migrate
from gamehub.core.db import (
    _OPEN_SESSION_KEY,
    Database,
    close_abandoned_session,
    database_unavailable,
)
from gamehub.core.runtime import Runtime
from tests.support.api import PASSWORD, register
from tests.support.apps import served
from tests.support.server import free_port

RECOVERY_SECONDS = 10


@dataclass
class Cluster:
    """A PostgreSQL cluster that this test alone may stop and start."""

    bin_dir: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/gamehub"

    def ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1"
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-w"]
        _as_postgres([*command, "-l", str(self.data.parent / "log"), *args])


def _as_postgres(command: list[str]) -> None:
    # PostgreSQL refuses to run as root.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("needs runuser to run PostgreSQL as its own user")
    home = Path(tempfile.mkdtemp(prefix="gamehub-outage-"))
    if os.geteuid() == 0:
        shutil.chown(home, user="postgres")
    running = Cluster(Path(found[-1]).parent, home / "data", free_port())
    try:
        _as_postgres([str(running.bin_dir / "initdb"), "-D", str(running.data), "-A", "trust"])
        running.ctl("start")
        _as_postgres(
            [
                str(running.bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(running.port),
                "-U",
                "postgres",
                "gamehub",
            ]
        )
        migrate.upgrade(running.url)
        yield running
    finally:
        # It may never have started, or be stopped already.
        with contextlib.suppress(subprocess.CalledProcessError):
            running.ctl("stop", "-m", "immediate")
        shutil.rmtree(home, ignore_errors=True)


async def test_an_outage_is_a_503_and_the_same_app_recovers_when_the_database_returns(
    cluster: Cluster,
) -> None:
    async with served(cluster.url, None, health_probe_seconds=0) as running:
        client = running.client
        account = await register(client)
        assert (await client.get("/health")).status_code == 200

        cluster.ctl("stop", "-m", "fast")
        for request in (
            client.get("/health"),
            client.post("/login", json={"username": account["username"], "password": PASSWORD}),
            client.get("/user/" + account["username"]),
        ):
            response = await request
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"].isdigit()
            assert response.json() == {
                "error": "DatabaseUnavailable",
                "detail": "The database is unavailable; try again shortly",
                "retry_after": int(response.headers["Retry-After"]),
            }

        cluster.ctl("start")
        with anyio.fail_after(RECOVERY_SECONDS):
            # Each request until the pool has reconnected is a 503, none a 500.
            while (status := (await client.get("/health")).status_code) != 200:
                assert status == 503
                await anyio.sleep(0.05)
        login = await client.post(
            "/login", json={"username": account["username"], "password": PASSWORD}
        )
        assert login.status_code == 200, login.text


async def test_readyz_names_the_database_while_it_is_down(cluster: Cluster) -> None:
    async with served(cluster.url, None, health_probe_seconds=0) as running:
        assert (await running.client.get("/readyz")).status_code == 200
        cluster.ctl("stop", "-m", "fast")
        try:
            down = await running.client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["down"] == ["database"]
            assert down.headers["x-request-id"]
            assert (await running.client.get("/healthz")).status_code == 200
        finally:
            cluster.ctl("start")
        with anyio.fail_after(RECOVERY_SECONDS):
            # Until the pool has reconnected, not ready; never a 500.
            while (status := (await running.client.get("/readyz")).status_code) != 200:
                assert status == 503
                await anyio.sleep(0.05)


async def test_after_a_restart_one_request_meets_a_dead_connection_and_the_pool_reconnects(
    cluster: Cluster,
) -> None:
    async with served(cluster.url, None, health_probe_seconds=0) as running:
        client = running.client
        # Several pooled connections, all of which the restart will kill.
        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(client.get, "/health")
        cluster.ctl("restart", "-m", "fast")
        first, *then = [(await client.get("/health")).status_code for _ in range(3)]
        # No ping before each checkout: the first request meets a connection the
        # restart killed. Its failure invalidates the whole pool, so the next
        # checkouts connect afresh rather than each meeting a dead one.
        assert first == 503
        assert then == [200, 200]


async def _error_from(url: str, statement: str = "SELECT 1") -> BaseException:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            await connection.execute(text(statement))
    except Exception as exc:
        return exc
    finally:
        await database.dispose()
    raise AssertionError(f"{statement} on {url} did not fail")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:{port}/gamehub",
        "mysql+asyncmy://root@127.0.0.1:{port}/gamehub",
    ],
)
async def test_a_server_that_refuses_connections_is_unavailable(url: str) -> None:
    error = await _error_from(url.format(port=free_port()))
    assert database_unavailable(error), repr(error)


async def test_a_mistake_of_ours_is_not_an_outage(database_url: str) -> None:
    error = await _error_from(database_url, "SELECT * FROM no_such_table")
    assert not database_unavailable(error), repr(error)


def test_sqlites_write_lock_held_too_long_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as raised:
            waiter.execute("BEGIN IMMEDIATE")
        assert database_unavailable(raised.value)
    finally:
        holder.close()
        waiter.close()


def test_an_outage_met_while_the_request_s_session_closes_is_an_outage() -> None:
    # Litestar closes generator dependencies (the session's COMMIT) in a task group,
    # whose errors arrive as an ExceptionGroup; seen in the reliability suite as a 500
    # when PostgreSQL restarted under a COMMIT.
    dropped = ConnectionResetError(104, "connection reset by peer")
    assert database_unavailable(ExceptionGroup("cleanup", [dropped]))
    assert database_unavailable(ExceptionGroup("cleanup", [ExceptionGroup("inner", [dropped])]))
    assert not database_unavailable(ExceptionGroup("cleanup", [dropped, ValueError("ours")]))
    assert not database_unavailable(ExceptionGroup("cleanup", [ValueError("ours")]))


def test_a_bad_value_is_not_an_outage() -> None:
    assert not database_unavailable(ValueError("invalid literal for int()"))
    assert not database_unavailable(sqlite3.IntegrityError("UNIQUE constraint failed"))


# Each backend's own connection id, and how another connection drops it.
_CONNECTION_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
_DROP = {"postgresql": "SELECT pg_terminate_backend({id})", "mysql": "KILL {id}"}


async def test_a_session_abandoned_on_a_dropped_connection_is_closed_without_an_error(
    runtime: Runtime, backend_name: str
) -> None:
    # A dependency after the session failed (an idempotency claim, in the reliability
    # suite, as PostgreSQL went down): the hook's rollback then met the dead connection,
    # and its error, raised from the exception handler, was a bare 500 of the server's.
    if backend_name == "sqlite":
        pytest.skip("no server to drop the connection")
    backend = runtime.db.backend
    session = runtime.db.sessionmaker()
    connection_id = await session.scalar(text(_CONNECTION_ID[backend]))
    killer = runtime.db.engine.execution_options(isolation_level="AUTOCOMMIT")
    async with killer.connect() as other:
        await other.execute(text(_DROP[backend].format(id=int(connection_id))))
    scope: Any = {"state": {_OPEN_SESSION_KEY: session}}

    await close_abandoned_session(RuntimeError("a later dependency failed"), scope)

    assert not session.in_transaction()
    assert _OPEN_SESSION_KEY not in scope["state"]
    # The pool serves the next request on a live connection.
    async with runtime.db.unit_of_work() as fresh:
        assert await fresh.scalar(text("SELECT 1")) == 1
