"""Engine, sessions and the one-transaction-per-request unit of work.

Services flush, never commit: the unit of work commits once the handler (or job) has
finished, and only then runs the side effects registered with :func:`after_commit`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeAlias, TypeVar

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gamehub.errors import GamehubError, ServiceUnavailable

logger = logging.getLogger("gamehub.db")

AfterCommit = Callable[[], Awaitable[None]]
# The request's session, injected by name into handlers and dependencies.
DbSession: TypeAlias = NamedDependency[AsyncSession]
_AFTER_COMMIT_KEY = "gamehub_after_commit"
T = TypeVar("T")


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's transaction has committed; drop it on rollback."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


async def checkpoint(session: AsyncSession) -> None:
    """Commit now, mid-request, and run what waited for the commit.

    Only for a step that must be durable before the outside world hears of it (a
    payment recorded before M-Pesa is asked to move money). The session carries on in
    a new transaction. Using the request's own session, never a second one, matters on
    SQLite: a second connection would wait for the first one's write lock forever.
    """
    await session.commit()
    await _run_after_commit(session)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": pool_size, "max_overflow": 20}
    if backend in ("mysql", "mariadb"):
        options["isolation_level"] = "READ COMMITTED"
        if "charset" not in parsed.query:
            url = str(parsed.update_query_dict({"charset": "utf8mb4"}).render_as_string(False))
    return create_async_engine(url, **options)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE.

    pysqlite's own transaction handling begins lazily and DEFERRED, so two writers can
    both read and then deadlock on upgrade. Taking the write lock at BEGIN serialises
    writers instead, which is what the embedded default needs for correct balances.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed on success, rolled back on error.

        A :class:`GamehubError` that asks for it (a failed login counting its failure)
        commits the work done before it was raised.
        """
        async with self.sessionmaker() as session:
            try:
                yield session
            except GamehubError as exc:
                if exc.commit_before_raising:
                    await session.commit()
                    await _run_after_commit(session)
                else:
                    await session.rollback()
                raise
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
        await _run_after_commit(session)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def _run_after_commit(session: AsyncSession) -> None:
    for callback in session.info.pop(_AFTER_COMMIT_KEY, []):
        try:
            await callback()
        except Exception:
            # The transaction is already durable; a failed side effect must not turn
            # a success into an error response.
            logger.exception("after-commit callback failed")


async def provide_db_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    database: Database = state.runtime.db
    async with database.unit_of_work() as session:
        yield session


# PostgreSQL's SQLSTATEs and MySQL/MariaDB's error numbers for "your transaction lost
# a lock conflict; run it again".
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
_RETRYABLE_MYSQL_ERRORS = frozenset({1213})  # ER_LOCK_DEADLOCK
DEADLOCK_ATTEMPTS = 5
RETRY_AFTER_SECONDS = 1


class DatabaseBusy(ServiceUnavailable):
    """A unit of work kept losing lock conflicts; nothing it did was kept."""

    def __init__(self) -> None:
        super().__init__(
            "The game is busy; nothing was changed, try again",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from, e.g. a savepoint's rollback failing
    after MariaDB had already rolled the whole transaction back) is a deadlock or a
    serialization failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError):
            orig = current.orig
            if getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
                return True
            args = getattr(orig, "args", ())
            if args and args[0] in _RETRYABLE_MYSQL_ERRORS:
                return True
        current = current.__cause__ or current.__context__
    return False


async def retry_on_deadlock(
    session: AsyncSession,
    step: Callable[[], Awaitable[T]],
    *,
    attempts: int = DEADLOCK_ATTEMPTS,
) -> T:
    """Run ``step`` as a transaction of its own, again if it deadlocks.

    Whatever the session did before is committed first (it is the request's own
    bookkeeping, an identity look-up or an idempotency claim), so that ``step`` is the
    whole of the transaction it runs in: a rollback after a deadlock or serialization
    failure throws away only ``step``'s work, and the retry redoes all of it. What the
    session collected for after the commit (events, look-ups) goes with the rollback.
    The transaction ``step`` leaves open is committed by its owner, as usual. After
    ``attempts`` losses the caller gets :class:`DatabaseBusy` (503 with Retry-After),
    never the driver's error.

    ``step`` must start from identifiers, not from ORM objects loaded before: a
    rollback expires every object in the session.
    """
    await checkpoint(session)
    for attempt in range(1, attempts + 1):
        try:
            return await step()
        except Exception as exc:
            if not is_retryable(exc):
                raise
            await session.rollback()
            session.info.clear()
            logger.warning("deadlock or serialization failure, attempt %d of %d", attempt, attempts)
            if attempt < attempts:
                # Random, growing pauses keep the transactions that collided from
                # colliding again in lockstep.
                await asyncio.sleep(random.uniform(0, 0.02 * 2**attempt))
    raise DatabaseBusy()
