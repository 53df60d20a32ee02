"""A hot one-row read (:class:`ReadStatement`) returns what SQLAlchemy returns for the
same statement, values converted alike, on every backend; on PostgreSQL it runs on its
own asyncpg pool, outside the engine, and a connection the server drops is an outage of
one read, not of the pool."""

from __future__ import annotations

from datetime import UTC

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy import JSON, Integer, bindparam, column, event, select, table
from sqlalchemy.exc import StatementError

from gamehub.accounts.repository import _PROFILE_VIEW, user_state
from gamehub.core.db import ReadStatement, database_unavailable
from gamehub.core.runtime import Runtime
from gamehub.wallet.ledger import wallet_code
from gamehub.wallet.repository import _BALANCE_AND_HELD
from tests.support.api import register


async def _profile_params(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, object]:
    account = await register(client)
    user_id = account["id"]
    return {
        "p_user_id": user_id,
        "p_wallet_code": wallet_code(user_id, runtime.settings.currency),
        "p_family_id": "",
    }


async def test_a_row_is_what_sqlalchemy_returns_with_the_same_conversions(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    params = await _profile_params(client, runtime)
    for statement in (_PROFILE_VIEW, _BALANCE_AND_HELD):
        async with runtime.db.reader() as connection:
            expected = (await connection.execute(statement.statement, params)).mappings().one()
        found = await statement.one(runtime.db, params)
        assert found is not None
        assert dict(found) == dict(expected)
    row = await _PROFILE_VIEW.one(runtime.db, params)
    assert row is not None
    # Stored naive, handed back aware, as every read of the column is.
    assert row["created_at"].tzinfo is UTC


async def test_no_row_is_none_and_a_missing_parameter_is_an_error(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    assert await user_state(runtime.db, 2_000_000_000) is None
    with pytest.raises((KeyError, StatementError)):
        await _PROFILE_VIEW.one(runtime.db, {"p_user_id": 1})


def test_a_json_column_is_refused_since_only_sqlalchemys_connections_decode_it() -> None:
    documents = table("documents", column("id", Integer), column("body", JSON))
    with pytest.raises(ValueError, match="JSON"):
        ReadStatement(select(documents.c.body).where(documents.c.id == bindparam("p_id")))


async def test_on_postgresql_the_read_takes_no_connection_of_the_engines(
    client: httpx.AsyncClient, runtime: Runtime, backend_name: str
) -> None:
    params = await _profile_params(client, runtime)
    checkouts: list[object] = []

    def checked_out(*args: object) -> None:
        checkouts.append(args)

    pool = runtime.db.engine.sync_engine.pool
    event.listen(pool, "checkout", checked_out)
    try:
        assert await _PROFILE_VIEW.one(runtime.db, params) is not None
    finally:
        event.remove(pool, "checkout", checked_out)
    assert len(checkouts) == (0 if backend_name == "postgresql" else 1)


async def test_a_connection_the_server_drops_fails_one_read_as_an_outage(
    client: httpx.AsyncClient, runtime: Runtime, backend_name: str, database_url: str
) -> None:
    if backend_name != "postgresql":
        pytest.skip("the direct reads are PostgreSQL's")
    params = await _profile_params(client, runtime)
    assert await _PROFILE_VIEW.one(runtime.db, params) is not None
    fast = await runtime.db.fast_reads()
    async with fast.acquire() as connection:
        pid = connection.get_server_pid()
    killer = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await killer.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()
    failures: list[Exception] = []
    # The pool holds up to its size of idle connections; the dropped one fails its read
    # at most (a 503 on a route), the pool replaces it, and the reads go on.
    for _ in range(fast.get_max_size() + 1):
        try:
            found = await _PROFILE_VIEW.one(runtime.db, params)
        except Exception as exc:
            failures.append(exc)
        else:
            assert found is not None
    assert len(failures) <= 1
    assert all(database_unavailable(failure) for failure in failures), failures
    assert await _PROFILE_VIEW.one(runtime.db, params) is not None


async def test_on_postgresql_a_read_is_one_statement_on_the_wire(
    client: httpx.AsyncClient, runtime: Runtime, backend_name: str
) -> None:
    if backend_name != "postgresql":
        pytest.skip("the direct reads are PostgreSQL's")
    params = await _profile_params(client, runtime)
    fast = await runtime.db.fast_reads()

    def statements_sent() -> int:
        # asyncpg counts every query a connection sends, a pool's reset on release too.
        holders = fast._holders
        return sum(h._con._protocol.queries_count for h in holders if h._con is not None)

    assert await _PROFILE_VIEW.one(runtime.db, params) is not None
    before = statements_sent()
    for _ in range(10):
        assert await _PROFILE_VIEW.one(runtime.db, params) is not None
    # No reset statement as each connection goes back: 10 reads, 10 statements (a
    # connection the pool opens meanwhile starts at 0, so no count is hidden).
    assert statements_sent() - before == 10
