"""Create the test database from scratch on whichever backend the URL names."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from gamehub.core.db import create_engine


async def recreate_database(url: str) -> None:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    name = parsed.database
    if backend == "sqlite":
        if name and name != ":memory:":
            _remove_sqlite_files(name)
        return
    if not name:
        raise ValueError(f"the test database URL names no database: {url}")
    if backend == "postgresql":
        admin_url = parsed.set(database="postgres")
        quote = '"'
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    elif backend in ("mysql", "mariadb"):
        admin_url = parsed.set(database="mysql")
        quote = "`"
        drop = f"DROP DATABASE IF EXISTS `{name}`"
    else:
        raise ValueError(f"unsupported test backend: {backend}")
    # The app's own engine, so that a URL through PgBouncer (?pgbouncer=true) works here too.
    engine = create_engine(admin_url.render_as_string(False))
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(drop))
            await connection.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    finally:
        await engine.dispose()


def _remove_sqlite_files(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(path + suffix).unlink(missing_ok=True)
