"""Fixtures over real components: the database and cache named by the environment, an SMTP
server on loopback, and the app served in-process.

GAMEHUB_TEST_DATABASE_URL  SQLAlchemy URL of a database the suite may drop and recreate
                           (default: a SQLite file in a temporary directory)
GAMEHUB_TEST_REDIS_URL     Redis URL (default: unset, the in-process backend); a
                           ``redis+cluster://`` URL names a Redis Cluster
GAMEHUB_TEST_REDIS_CLUSTER "1": start a three-node Redis Cluster on spare loopback ports
                           (one per xdist worker) and use it as the Redis
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from reliability.services import Redis as ThrowawayRedis
from reliability.services import RedisCluster
from sqlalchemy import delete, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from gamehub import migrate
from gamehub.app import create_app
from gamehub.core.clock import Clock
from gamehub.core.redis_client import RedisClient, connect
from gamehub.core.runtime import Runtime
from gamehub.models import Base, Game, RewardTable
from gamehub.settings import Settings
from tests.support.databases import recreate_database
from tests.support.server import GENEROUS_RATE_LIMITS
from tests.support.smtp import SmtpSink

REDIS_TEST_PREFIX = "gamehub-test:"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A freshly created, migrated database for the whole run."""
    url = os.environ.get("GAMEHUB_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'gamehub.db'}"
    elif worker := os.environ.get("PYTEST_XDIST_WORKER"):
        # Each parallel worker gets a database of its own.
        parsed = make_url(url)
        url = parsed.set(database=f"{parsed.database}_{worker}").render_as_string(False)
    asyncio.run(recreate_database(url))
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str | None]:
    if os.environ.get("GAMEHUB_TEST_REDIS_CLUSTER") == "1":
        cluster = RedisCluster()
        cluster.start()
        yield cluster.url
        cluster.stop()
        return
    yield os.environ.get("GAMEHUB_TEST_REDIS_URL") or None


def redis_client(url: str) -> RedisClient:
    """A client of the test Redis, a cluster's when the URL names one."""
    return connect(url, max_connections=16, pool_timeout_seconds=2)


@pytest.fixture(scope="session")
def backend_name(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(database_url: str, redis_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        # A prefix of its own per test keeps Redis state from leaking between tests.
        "redis_prefix": f"{REDIS_TEST_PREFIX}{uuid.uuid4().hex[:10]}:",
        "jwt_secret": "test-secret-" + "x" * 40,
        # Cheap argon2 parameters: the suite hashes hundreds of passwords.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        "argon2_parallelism": 1,
        "smtp_url": None,
        "rate_limits": GENEROUS_RATE_LIMITS,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str, redis_url: str | None, smtp_sink: SmtpSink) -> Settings:
    return make_settings(database_url, redis_url, smtp_url=smtp_sink.url)


# Reference data the migrations seed, and the install's generated secrets (which every
# app started on this database must share): kept, and put back as seeded.
SEEDED_TABLES = {"games", "install_secrets", "reward_tables"}
# The games' settings as the migrations left them, read by the first test to start.
_SEEDED_GAMES: list[dict[str, Any]] = []
_GAME_SETTINGS = ("is_active", "min_bet", "max_bet", "reward_table_version", "rake_bps")


async def empty_tables(runtime: Runtime) -> None:
    # A server that a module's tests share (tests/payments) may still be settling an
    # earlier test's payment: its commit between two of the deletes leaves a row that
    # the next delete's foreign key refuses, and emptying starts over.
    for attempt in range(EMPTYING_ATTEMPTS):
        try:
            await _empty_tables_once(runtime)
            return
        except IntegrityError:
            if attempt == EMPTYING_ATTEMPTS - 1:
                raise


EMPTYING_ATTEMPTS = 5


async def _empty_tables_once(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as session:
        if not _SEEDED_GAMES:
            games = (await session.execute(select(Game))).scalars().all()
            _SEEDED_GAMES.extend(
                {"id": g.id, "side_bet_edge_bps": g.side_bet_edge_bps}
                | {name: getattr(g, name) for name in _GAME_SETTINGS}
                for g in games
            )
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in SEEDED_TABLES:
                await session.execute(delete(table))
        # Operators' changes (tests of the admin API's games) are undone.
        await session.execute(delete(RewardTable).where(RewardTable.version > 1))
        for seeded in _SEEDED_GAMES:
            values = {k: v for k, v in seeded.items() if k != "id"}
            await session.execute(update(Game).where(Game.id == seeded["id"]).values(**values))


@pytest.fixture
def app(settings: Settings, smtp_sink: SmtpSink) -> Litestar:
    smtp_sink.clear()
    return create_app(settings)


@asynccontextmanager
async def serve_in_process(application: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app and its client on the test's own event loop, so that tests may use the
    app's database pool and cache directly (Litestar's test client runs the app on a
    loop of its own, where pooled connections cannot be shared)."""
    async with application.lifespan():
        await empty_tables(application.state.runtime)
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gamehub.test") as c:
            yield c


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(app) as test_client:
        yield test_client


@pytest.fixture
def runtime(app: Litestar, client: httpx.AsyncClient) -> Runtime:
    """The running app's runtime (available once the client has started the app)."""
    result: Runtime = app.state.runtime
    return result


@pytest.fixture
async def quiet_client(app_factory: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app without its games clock, for tests that count every statement sent."""
    async with app_factory(game_jobs_interval_seconds=0) as quiet:
        yield quiet


@pytest.fixture
def quiet_runtime(quiet_client: httpx.AsyncClient) -> Runtime:
    found: Runtime = quiet_client._transport.app.state.runtime  # type: ignore[attr-defined]
    return found


@pytest.fixture(scope="session", autouse=True)
def _drop_test_redis_keys(redis_url: str | None) -> Iterator[None]:
    yield
    if redis_url is None:
        return

    async def drop() -> None:
        client = redis_client(redis_url)
        keys = [key async for key in client.scan_iter(f"{REDIS_TEST_PREFIX}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    asyncio.run(drop())


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    # Every coroutine test runs on anyio's asyncio backend; marked before anyio looks.
    # Hypothesis wraps the coroutine function; anyio runs its examples on one loop.
    inner = getattr(getattr(obj, "hypothesis", None), "inner_test", obj)
    if name.startswith("test") and inspect.iscoroutinefunction(inner):
        pytest.mark.anyio(obj)


@pytest.fixture
def own_redis() -> Iterator[ThrowawayRedis]:
    """A Redis of the test's own on a spare port, which the test may stop and start."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def app_factory(database_url: str, redis_url: str | None, smtp_sink: SmtpSink) -> Any:
    """Start the app with some settings changed: ``async with app_factory(x=1) as client``;
    ``clock=`` gives its runtime a clock the test moves."""

    @asynccontextmanager
    async def start(
        clock: Clock | None = None, **overrides: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        smtp_sink.clear()
        overrides.setdefault("smtp_url", smtp_sink.url)
        application = create_app(make_settings(database_url, redis_url, **overrides), clock=clock)
        async with serve_in_process(application) as test_client:
            yield test_client

    return start
