"""Migrations and models agree, and upgrade -> downgrade -> upgrade works on this backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url

from gamehub import migrate
from gamehub.core.db import create_engine
from gamehub.models import Base
from tests.support.databases import recreate_database


@pytest.fixture
def scratch_url(database_url: str, tmp_path: Any) -> str:
    """A database of its own beside the suite's, so that downgrading harms no other test."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    else:
        url = parsed.set(database=f"{parsed.database}_migrations").render_as_string(False)
    asyncio.run(recreate_database(url))
    return url


def _inspect(url: str) -> tuple[list[Any], set[str]]:
    def read(connection: Connection) -> tuple[list[Any], set[str]]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata), set(inspect(connection).get_table_names())

    async def run() -> tuple[list[Any], set[str]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_models_and_migrations_agree_through_a_round_trip(scratch_url: str) -> None:
    model_tables = set(Base.metadata.tables)
    migrate.upgrade(scratch_url)
    differences, tables = _inspect(scratch_url)
    assert differences == []
    assert model_tables <= tables
    assert migrate.current(scratch_url).endswith("(head)")

    migrate.downgrade(scratch_url, "base")
    _, tables = _inspect(scratch_url)
    assert not (model_tables & tables)

    migrate.upgrade(scratch_url)
    differences, tables = _inspect(scratch_url)
    assert differences == []
    assert model_tables <= tables
