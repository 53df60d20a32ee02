"""Engine, sessions and the one-transaction-per-request unit of work.

Services flush, never commit: the unit of work commits once the handler (or job) has
finished, and only then runs the side effects registered with :func:`after_commit`,
phase by phase. The one exception is named where it happens: a step that must be
durable before the request goes on calls :func:`commit_durable_step`, and only the
modules listed in ``tests/core/test_transaction_rule.py`` may.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeAlias, TypeVar, cast

import asyncpg  # type: ignore[import-untyped]
from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.types import Scope
from sqlalchemy import JSON, Select, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.util import await_only

from gamehub.errors import (
    DatabaseBusy,
    DatabaseUnavailable,
    handle_gamehub_error,
    handle_unexpected,
)

logger = logging.getLogger("gamehub.db")

AfterCommit = Callable[[], Awaitable[None]]
# The request's session, injected by name into handlers and dependencies.
DbSession: TypeAlias = NamedDependency[AsyncSession]
_AFTER_COMMIT_KEY = "gamehub_after_commit"
T = TypeVar("T")
# Marks, in a pooled SQLite connection's info, that it holds the process's writer lock.
_WRITER_KEY = "gamehub_writer"
# The request's session while its dependency generator is open, in the request's state.
_OPEN_SESSION_KEY = "gamehub_session"
# Marks, in a pooled connection's info, that its open transaction has written or locked.
_WROTE_KEY = "gamehub_wrote"
# Marks, in a session's info, that it has committed a write (see provide_db_session).
_COMMITTED_WRITE_KEY = "gamehub_committed_write"
# The user on whose behalf the request acts, in the request's state (note_caller).
_CALLER_KEY = "gamehub_caller"


class Phase(IntEnum):
    """When, after a commit, a side effect runs: phase by phase, in this order, and in
    registration order within a phase, whatever order the code registered them in."""

    # What the next request reads: cache invalidations, revocations, stored responses.
    STATE = 10
    # What clients are told: events published to their streams.
    EVENTS = 20
    # What is derived from the committed rows: leaderboards and the updates they send.
    DERIVED = 30
    # Work handed to the outside world: mail, background jobs.
    OUTSIDE = 40


def after_commit(session: AsyncSession | Session, callback: AfterCommit, *, phase: Phase) -> None:
    """Run ``callback`` in ``phase`` once the session's transaction has committed; drop it
    on rollback. ``session`` may be the synchronous one under an AsyncSession (in a flush
    listener): both share ``info``."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append((phase, callback))


async def commit_durable_step(session: AsyncSession, reason: str) -> None:
    """Commit now, mid-request, and run what waited for the commit; ``reason`` says why
    this step cannot wait for the end of the request.

    For a step that must be durable before the outside world hears of it (a payment
    recorded before M-Pesa is asked to move money), that must survive the request's
    failure (a failed login's count), or that must hold no transaction open while a
    slow step runs (a password hash). The session carries on in a new transaction.
    Using the request's own session, never a second one, matters on SQLite: a second
    connection would wait for the first one's write lock forever.
    """
    logger.debug("durable step: %s", reason)
    await _commit(session)
    await _run_after_commit(session)


CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 10
# What a client is told to wait before trying again while the database is unavailable.
RETRY_AFTER_SECONDS = 5
# asyncpg's SQLSTATEs for "the server cannot serve now": connection exceptions (class
# 08), too many connections, and an administrator's or a crash's shutdown or start-up.
_PG_UNAVAILABLE = ("08", "53300", "57P01", "57P02", "57P03")
# MySQL/MariaDB client errors for a connection that could not be made or was lost:
# can't connect (2002 socket, 2003 TCP), server gone away, lost connection during or
# at the start of a query, too many connections, server shutting down.
_MYSQL_UNAVAILABLE = frozenset({1040, 1053, 2002, 2003, 2006, 2013, 2055})
# asyncpg's own messages when the connection under a statement is gone or broken.
_DRIVER_UNAVAILABLE = ("cannot switch to state", "connection is closed", "connection was closed")

# How long a SQLite writer waits for the write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000


# Connections each worker's pool keeps open, and how many more it may open under load.
POOL_SIZE = 10
POOL_MAX_OVERFLOW = 20
# The URL query parameter that says PgBouncer (transaction pooling) stands between us
# and PostgreSQL: ``postgresql+asyncpg://app@bouncer:6432/gamehub?pgbouncer=true``.
PGBOUNCER_PARAMETER = "pgbouncer"


def create_engine(
    url: str, *, pool_size: int = POOL_SIZE, max_overflow: int = POOL_MAX_OVERFLOW
) -> AsyncEngine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    behind_pgbouncer = _behind_pgbouncer(parsed)
    if PGBOUNCER_PARAMETER in parsed.query:
        parsed = parsed.difference_update_query([PGBOUNCER_PARAMETER])
        url = parsed.render_as_string(False)
    if behind_pgbouncer and backend != "postgresql":
        raise ValueError(f"?{PGBOUNCER_PARAMETER}=true is for PostgreSQL URLs, not {backend}")
    if backend == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        _track_writes(engine)
        return engine
    options: dict[str, Any] = {
        # No round trip before every checkout: a connection the server dropped fails
        # its first statement instead, SQLAlchemy sees a disconnect and invalidates the
        # pool (every connection older than the failure is replaced at its next
        # checkout), and that one request answers 503 (DatabaseUnavailable).
        "pool_pre_ping": False,
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        # Waiting longer for a pooled connection only holds the client longer: past
        # this the request answers 503 too.
        "pool_timeout": POOL_TIMEOUT_SECONDS,
    }
    if backend == "postgresql":
        # A server that does not answer (not merely refuses) must not hold a request for
        # asyncpg's default minute.
        options["connect_args"] = {"timeout": CONNECT_TIMEOUT_SECONDS}
        if behind_pgbouncer:
            options["connect_args"].update(_PGBOUNCER_CONNECT_ARGS)
    if backend in ("mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        # Without a ping, replace connections before the server's wait_timeout (8 h by
        # default) drops them idle, rather than let a request find one dropped.
        options["pool_recycle"] = 3600
        options["isolation_level"] = "READ COMMITTED"
        if "charset" not in parsed.query:
            url = str(parsed.update_query_dict({"charset": "utf8mb4"}).render_as_string(False))
    engine = create_async_engine(url, **options)
    _track_writes(engine)
    return engine


# In transaction pooling PgBouncer hands the server connection to another client once a
# transaction (or a statement outside one) ends, so nothing may outlive it there. Named
# prepared statements would: asyncpg names them __asyncpg_stmt_1__, 2, ... per client
# connection, so a second client sent to the same server connection is told "prepared
# statement already exists" (and a statement prepared outside a transaction may be
# executed on a server connection that never saw it). With both caches at zero asyncpg
# prepares every statement unnamed and sends its Parse again with the Bind, in the same
# round trip, so a statement never depends on the server connection it was prepared on.
# (Unique names, SQLAlchemy's other suggestion, would pile up on the server connections:
# in transaction mode PgBouncer runs no DISCARD ALL between clients.) The price is one
# more Parse per statement on the server; PgBouncer 1.21's max_prepared_statements, not
# in Debian 12, would keep them.
_PGBOUNCER_CONNECT_ARGS = {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


async def _open_fast_reads(url: str) -> asyncpg.Pool:
    parsed = make_url(url)
    options: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_SECONDS}
    if _behind_pgbouncer(parsed):
        options["statement_cache_size"] = 0
    dsn = parsed.set(drivername="postgresql").difference_update_query([PGBOUNCER_PARAMETER])
    return await asyncpg.create_pool(
        dsn.render_as_string(hide_password=False),
        min_size=0,
        max_size=FAST_READ_POOL_SIZE,
        reset=_nothing_to_reset,
        **options,
    )


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    """asyncpg's default sends a statement (RESET ALL, UNLISTEN *, ...) as each connection
    goes back to the pool: a second round trip per read. A read in autocommit changes no
    session state to reset; asyncpg still rolls back a transaction left open."""


def _behind_pgbouncer(url: URL) -> bool:
    value = url.query.get(PGBOUNCER_PARAMETER)
    if value is None:
        return False
    if not isinstance(value, str) or value.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"?{PGBOUNCER_PARAMETER}= takes true or false, not {value!r}")
    return value.lower() in ("true", "1")


def _track_writes(engine: AsyncEngine) -> None:
    """Note on the connection when its transaction first writes or takes a lock, so that
    :func:`retry_on_deadlock` knows whether a rollback would lose more than reads."""

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.info.pop(_WROTE_KEY, None)

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _on_execute(
        connection: Any, _: Any, statement: str, __: Any, context: Any, ___: bool
    ) -> None:
        if not _only_reads(statement, context):
            connection.info[_WROTE_KEY] = True


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys, and the write lock taken at a transaction's first write.

    pysqlite's own transaction handling begins lazily and DEFERRED, so two writers can
    both read and then deadlock on upgrade; taking the write lock at BEGIN IMMEDIATE
    serialises writers instead. But taking it at the *start* of every transaction made
    each read-only check hold SQLite's one write lock for as long as the request then
    awaited something else (an argon2 hash in a thread, SMTP, M-Pesa): 32 concurrent
    registrations queued behind one another's password hashes for 15 s. So reads before
    a transaction's first write run on their own (each sees the latest commit, as under
    PostgreSQL's READ COMMITTED), and BEGIN IMMEDIATE is sent just before the first
    statement that writes or locks (SELECT ... FOR UPDATE, which SQLite's dialect
    otherwise drops): from there on the transaction is serialised as before.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    # Writers queue here, first come first served, rather than in SQLite's busy handler,
    # which polls with growing sleeps and lets newcomers overtake: under 32 concurrent
    # clients some writers starved for over 10 s while others took the lock again and
    # again. Held from BEGIN IMMEDIATE until the connection goes back to the pool.
    writers = asyncio.Lock()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _lock_before_first_write(
        connection: Any, cursor: Any, statement: str, _: Any, context: Any, __: bool
    ) -> None:
        if not connection.in_transaction() or _only_reads(statement, context):
            return
        pooled = connection.connection
        # aiosqlite's connection knows whether SQLite itself is inside a transaction.
        if pooled.driver_connection.in_transaction:
            return
        if not pooled.info.get(_WRITER_KEY):
            try:
                await_only(asyncio.wait_for(writers.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000))
            except TimeoutError:
                raise sqlite3.OperationalError("database is locked") from None
            pooled.info[_WRITER_KEY] = True
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except BaseException:
            _release(pooled)
            raise

    def _release(pooled: Any) -> None:
        if pooled.info.pop(_WRITER_KEY, False):
            writers.release()

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(_: Any, record: Any) -> None:
        _release(record)

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _on_invalidate(_: Any, record: Any, __: BaseException | None) -> None:
        _release(record)


def _only_reads(statement: str, context: Any) -> bool:
    compiled = getattr(context, "compiled", None)
    clause = getattr(compiled, "statement", None)
    if isinstance(clause, Select):
        return clause._for_update_arg is None
    if isinstance(clause, UpdateBase):
        return False
    # Text: only a plain SELECT is known to read (a WITH may hide a write).
    return statement.lstrip()[:6].upper() == "SELECT"


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means "the database cannot serve now" rather than a fault of ours
    or of the input: the server is down, restarting, refusing connections, or dropped
    the one under the statement; on SQLite, the write lock was not free in time.

    The chain below a database error is searched, since SQLAlchemy wraps the driver's
    error; a connection refused arrives unwrapped, from the driver's connect.
    """
    if isinstance(exc, BaseExceptionGroup):
        # Litestar cleans up generator dependencies in a task group: a COMMIT that fails
        # as the request's session closes arrives grouped.
        return bool(exc.exceptions) and all(database_unavailable(e) for e in exc.exceptions)
    if isinstance(exc, SQLAlchemyTimeoutError):
        return True  # no pooled connection came free in time
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, SQLAlchemyError | OSError) and not _from_a_driver(exc):
        return False
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _driver_says_unavailable(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _from_a_driver(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("asyncpg", "asyncmy", "aiosqlite", "sqlite3")


def _driver_says_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True  # refused, reset, unreachable, timed out
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_PG_UNAVAILABLE):
        return True
    if _from_a_driver(exc):
        code = exc.args[0] if exc.args else None
        if isinstance(code, int) and code in _MYSQL_UNAVAILABLE:
            return True
        message = str(exc)
        if any(text in message for text in _DRIVER_UNAVAILABLE):
            return True
        # Another process (or a worker of ours) held SQLite's write lock too long.
        return isinstance(exc, sqlite3.OperationalError) and "database is locked" in message
    return False


def handle_unexpected_or_unavailable(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[Any]:
    """The last exception handler: a database outage is a 503 the client may retry,
    anything else the 500 it always was."""
    if database_unavailable(exc):
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return handle_gamehub_error(request, DatabaseUnavailable(RETRY_AFTER_SECONDS))
    return handle_unexpected(request, exc)


OneRowSelect: TypeAlias = Select[*tuple[Any, ...]]
# Connections each worker keeps for the hot one-statement reads on PostgreSQL
# (:class:`ReadStatement`), beside the engine's pool.
FAST_READ_POOL_SIZE = 4


@dataclass(frozen=True, slots=True)
class _DirectRead:
    """A statement as asyncpg runs it, converting values exactly as SQLAlchemy would."""

    sql: str
    # Per position: the parameter's name, whether the caller must give it, its value
    # when the statement holds one (a literal SQLAlchemy bound), and the type's
    # conversion on the way in.
    parameters: tuple[tuple[str, bool, Any, Callable[[Any], Any] | None], ...]
    # Per column: its key in the row, and the type's conversion on the way out.
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, required, held, convert in self.parameters:
            value = params[name] if required else params.get(name, held)
            values.append(value if convert is None else convert(value))
        return values

    def row(self, record: Any) -> dict[str, Any]:
        return {
            key: value if convert is None else convert(value)
            for (key, convert), value in zip(self.columns, record, strict=True)
        }


class ReadStatement:
    """A read that is one SELECT of one row, compiled once, for the routes every player
    polls (the identity's state, ``GET /profile``, ``GET /wallet``).

    On PostgreSQL it runs straight on an asyncpg connection of the database's own small
    pool, with the SQL SQLAlchemy compiled for it and the same conversions of its types
    (an aware UTC datetime out of a naive column, say): a third of the CPU of the same
    statement through SQLAlchemy's connection, result and greenlet (docs/performance.md).
    On SQLite and MariaDB it runs through SQLAlchemy, as every other statement does.

    A row is read by column name (``row["balance"]``), whichever path ran it.
    """

    def __init__(self, statement: OneRowSelect) -> None:
        if any(isinstance(c.type, JSON) for c in statement.selected_columns):
            # SQLAlchemy decodes JSON with codecs it installs on its own connections.
            raise ValueError("a ReadStatement cannot select a JSON column")
        self.statement = statement
        self._direct: _DirectRead | None = None

    def direct(self, database: Database) -> _DirectRead:
        if self._direct is None:
            self._direct = _compile_direct(self.statement, database.engine.dialect)
        return self._direct

    async def one(
        self, source: Database | AsyncConnection, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """The row, or None. ``source``: the database (a connection of its choosing), or a
        connection whose transaction must see the row (one that has just written it)."""
        if isinstance(source, AsyncConnection):
            found = (await source.execute(self.statement, dict(params))).mappings().first()
            return cast(Mapping[str, Any] | None, found)
        if not source.has_fast_reads:
            async with source.reader() as connection:
                return await self.one(connection, params)
        direct = self.direct(source)
        pool = await source.fast_reads()
        async with pool.acquire() as connection:
            record = await connection.fetchrow(direct.sql, *direct.arguments(params))
        return None if record is None else direct.row(record)


def _compile_direct(statement: OneRowSelect, dialect: Any) -> _DirectRead:
    compiled: Any = statement.compile(dialect=dialect)
    parameters = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        held = None if bind.required else bind.effective_value
        parameters.append((name, bind.required, held, bind.type._cached_bind_processor(dialect)))
    columns = tuple(
        (column.keyname, column.type._cached_result_processor(dialect, None))
        for column in compiled._result_columns
    )
    return _DirectRead(str(compiled), tuple(parameters), columns)


class Database:
    def __init__(
        self, url: str, *, pool_size: int = POOL_SIZE, max_overflow: int = POOL_MAX_OVERFLOW
    ) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Connections for a read that is one statement: it needs no transaction, and on
        # PostgreSQL autocommit saves the BEGIN and ROLLBACK round trips around it (the
        # level is asyncpg's flag, set and reset without a round trip). SQLite's reads run
        # outside a transaction already; on MySQL switching costs round trips of its own.
        self._readers = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.engine.dialect.name == "postgresql"
            else self.engine
        )
        parsed = make_url(url)
        self.has_fast_reads = parsed.drivername == "postgresql+asyncpg"
        self._fast_reads: asyncpg.Pool | None = None
        self._fast_reads_opening = asyncio.Lock()
        # The last probe's outcome: when (monotonic), and whether the database answered.
        self._probed_at: float | None = None
        self._answered = False
        self._probing = asyncio.Lock()

    def reader(self) -> AsyncConnection:
        """``async with database.reader() as connection``: for one statement that only
        reads. No ORM session either: a session's set-up and tear-down cost more CPU
        than the hot reads (identity, /profile, /wallet) themselves."""
        return self._readers.connect()

    async def check_reachable(self, max_age_seconds: float) -> None:
        """Raise :class:`DatabaseUnavailable` unless the database answered a probe no older
        than ``max_age_seconds``: one ``SELECT 1`` serves every caller meanwhile, so that a
        health check polled by many clients costs the database one round trip a second."""
        if not self._fresh(max_age_seconds):
            async with self._probing:
                # Whoever waited for the probe just made uses its outcome.
                if not self._fresh(max_age_seconds):
                    await self._probe()
        if not self._answered:
            raise DatabaseUnavailable(RETRY_AFTER_SECONDS)

    def _fresh(self, max_age_seconds: float) -> bool:
        probed = self._probed_at
        return probed is not None and time.monotonic() - probed < max_age_seconds

    async def _probe(self) -> None:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            logger.warning("database unavailable to the health probe: %s", exc)
            self._answered = False
        else:
            self._answered = True
        self._probed_at = time.monotonic()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed on success, rolled back on any error. Work that
        must outlive an error is committed before it, at the call site
        (:func:`commit_durable_step`)."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await _commit(session)
        await _run_after_commit(session)

    async def fast_reads(self) -> asyncpg.Pool:
        """The pool of :class:`ReadStatement`'s direct reads, opened at its first use.

        Its connections are opened as the engine's are (the same server, timeout and,
        behind PgBouncer, no named statements) and outside any transaction. One the
        server dropped fails its statement, which the pool then replaces: that request
        answers 503, as on the engine's connections.
        """
        if self._fast_reads is None:
            async with self._fast_reads_opening:
                if self._fast_reads is None:
                    self._fast_reads = await _open_fast_reads(self.url)
        return self._fast_reads

    async def dispose(self) -> None:
        if self._fast_reads is not None:
            pool, self._fast_reads = self._fast_reads, None
            await pool.close()
        await self.engine.dispose()


async def _commit(session: AsyncSession) -> None:
    if await _has_written(session):
        session.info[_COMMITTED_WRITE_KEY] = True
    await session.commit()


async def _run_after_commit(session: AsyncSession) -> None:
    waiting: list[tuple[Phase, AfterCommit]] = session.info.pop(_AFTER_COMMIT_KEY, [])
    # sorted() is stable: within a phase, registration order holds.
    for _, callback in sorted(waiting, key=lambda item: item[0]):
        try:
            await callback()
        except Exception:
            # The transaction is already durable; a failed side effect must not turn
            # a success into an error response.
            logger.exception("after-commit callback failed")


async def provide_db_session(
    state: State, request: Request[Any, Any, Any]
) -> AsyncGenerator[AsyncSession, None]:
    database: Database = state.runtime.db
    async with database.unit_of_work() as session:
        request.state[_OPEN_SESSION_KEY] = session
        try:
            yield session
        finally:
            request.state.pop(_OPEN_SESSION_KEY, None)
    caller = request.state.get(_CALLER_KEY)
    if session.info.get(_COMMITTED_WRITE_KEY) and caller is not None:
        # Before the response goes out (Litestar closes a handler's dependencies first),
        # so the user's next request already reads their write from the primary
        # (gamehub.core.replica); the runtime's type lives above this module.
        await state.runtime.replica.wrote(caller)


def note_caller(request: Request[Any, Any, Any], user_id: int) -> None:
    """Say on whose behalf the request acts: a write it commits is that user's own, which
    their next reads must see (gamehub.core.replica)."""
    request.state[_CALLER_KEY] = user_id


async def close_abandoned_session(_: Exception, scope: Scope) -> None:
    """An after-exception hook: roll back and close a request's session that Litestar
    abandoned.

    When a dependency resolved after the session fails (the caller's identity, say),
    Litestar never resumes the session's generator: its transaction stayed open, and
    its connection checked out, until the garbage collector came by, and on SQLite a
    transaction that had written held the write lock that long. It never raises: an
    error here would replace the response the exception handlers are about to give.
    """
    session = scope.get("state", {}).pop(_OPEN_SESSION_KEY, None)
    if not isinstance(session, AsyncSession):
        return
    try:
        await session.close()
    except Exception as exc:
        # Its rollback met a connection the server had dropped (most likely the outage
        # that failed the request): the request's own error is answered, not this one,
        # and the connection is thrown away rather than pooled.
        logger.warning("closing an abandoned session failed: %s", exc)
        await session.invalidate()


# PostgreSQL's SQLSTATEs and MySQL/MariaDB's error numbers for "your transaction lost
# a lock conflict; run it again".
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
_RETRYABLE_MYSQL_ERRORS = frozenset({1213})  # ER_LOCK_DEADLOCK
DEADLOCK_ATTEMPTS = 5
BUSY_RETRY_AFTER_SECONDS = 1


async def _has_written(session: AsyncSession) -> bool:
    """Whether a rollback now would lose more than reads."""
    if session.new or session.dirty or session.deleted or session.info.get(_AFTER_COMMIT_KEY):
        return True
    if not session.in_transaction():
        return False
    connection = await session.connection()
    return bool(connection.info.get(_WROTE_KEY))


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
    """Run ``step`` again if it deadlocks, so that it is never half done.

    A rollback after a deadlock or serialization failure throws away the whole
    transaction, so ``step`` must be all of what a rollback loses. When the session has
    written nothing yet (it only read: an identity look-up, or an idempotency claim that
    committed itself), ``step`` simply shares the request's transaction: no commit in
    between, and its retry redoes everything that was lost. When the session has
    written, locked or queued something (pending objects, after-commit callbacks), that
    is committed first (a durable step), so that a retry cannot lose it. What the session
    collected for after the commit (events, look-ups) goes with the rollback. The
    transaction ``step`` leaves open is committed by its owner, as usual. After
    ``attempts`` losses the caller gets :class:`DatabaseBusy` (503 with Retry-After),
    never the driver's error.

    ``step`` must start from identifiers, not from ORM objects loaded before: a
    rollback expires every object in the session.
    """
    if await _has_written(session):
        await commit_durable_step(session, "what came before a step that may be retried")
    for attempt in range(1, attempts + 1):
        try:
            return await step()
        except Exception as exc:
            if not is_retryable(exc):
                raise
            await session.rollback()
            # What committed before the step stays committed, and so noted.
            committed = session.info.get(_COMMITTED_WRITE_KEY)
            session.info.clear()
            if committed:
                session.info[_COMMITTED_WRITE_KEY] = True
            logger.warning("deadlock or serialization failure, attempt %d of %d", attempt, attempts)
            if attempt < attempts:
                # Random, growing pauses keep the transactions that collided from
                # colliding again in lockstep.
                await asyncio.sleep(random.uniform(0, 0.02 * 2**attempt))
    raise DatabaseBusy(BUSY_RETRY_AFTER_SECONDS)
