"""Each worker's database pool, sized by the settings, and the URL's ?pgbouncer= flag."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from gamehub.core.db import create_engine
from gamehub.core.runtime import Runtime


async def test_the_pool_is_sized_by_the_settings(app_factory: object, backend_name: str) -> None:
    if backend_name == "sqlite":
        pytest.skip("SQLite's engine keeps SQLAlchemy's own pool for a file")
    async with app_factory(database_pool_size=3, database_max_overflow=4) as client:  # type: ignore[operator]
        runtime: Runtime = client._transport.app.state.runtime
        pool = runtime.db.engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool.size(), pool._max_overflow) == (3, 4)
        assert (await client.get("/health")).status_code == 200


async def test_the_flag_turns_off_both_statement_caches(
    database_url: str, backend_name: str
) -> None:
    if backend_name != "postgresql":
        pytest.skip("the flag is for PostgreSQL")
    url = make_url(database_url).update_query_dict({"pgbouncer": "true"})
    engine = create_engine(url.render_as_string(False))
    try:
        assert "pgbouncer" not in engine.url.query
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            adapted = (await connection.get_raw_connection()).dbapi_connection
            # SQLAlchemy's cache of prepared statements, and asyncpg's own.
            assert adapted._prepared_statement_cache is None  # type: ignore[union-attr]
            assert not adapted.driver_connection._stmt_cache_enabled  # type: ignore[union-attr]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://app@127.0.0.1/gamehub?pgbouncer=sometimes",
        "mysql+asyncmy://root@127.0.0.1/gamehub?pgbouncer=true",
        "sqlite+aiosqlite:///gamehub.db?pgbouncer=true",
    ],
)
def test_the_flag_is_refused_with_another_value_or_another_backend(url: str) -> None:
    with pytest.raises(ValueError, match="pgbouncer"):
        create_engine(url)
