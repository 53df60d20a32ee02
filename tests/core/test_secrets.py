"""The install's own secrets: no public default, generated once, shared by every app and
command on the database, and the callback secret independent of the JWT secret."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator

import jwt
import pytest
from sqlalchemy import delete, select

from gamehub.composition import start_runtime
from gamehub.core.db import Database
from gamehub.core.secrets import load_secrets
from gamehub.models import InstallSecret
from tests.conftest import make_settings
from tests.support.api import bearer, register
from tests.support.apps import Served, served

# What `make run` used to sign every token with, published in the source.
OLD_PUBLIC_SECRET = "insecure-development-secret-change-me-in-production"


async def _forget_install_secrets(database_url: str) -> None:
    database = Database(database_url)
    try:
        async with database.unit_of_work() as session:
            await session.execute(delete(InstallSecret))
    finally:
        await database.dispose()


@pytest.fixture
async def fresh_install(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    """An app on a database that has never generated secrets, with none configured."""
    await _forget_install_secrets(database_url)
    async with served(database_url, redis_url, jwt_secret="") as running:
        yield running


async def test_a_token_forged_with_the_old_public_secret_is_refused(
    fresh_install: Served,
) -> None:
    client = fresh_install.client
    victim = await register(client)
    claims = {"sub": str(victim["id"]), "jti": "forged", "typ": "access", "iat": 1, "exp": 2**40}
    forged = jwt.encode(claims, OLD_PUBLIC_SECRET, algorithm="HS256")
    response = await client.get("/me", headers=bearer(forged))
    assert response.status_code == 401
    # The install's own tokens work.
    assert (await client.get("/me", headers=bearer(victim["access_token"]))).status_code == 200


async def test_generated_secrets_are_random_kept_and_independent(
    fresh_install: Served, database_url: str
) -> None:
    settings = fresh_install.runtime.settings
    assert len(settings.jwt_secret) >= 32
    assert len(settings.callback_secret) >= 32
    assert OLD_PUBLIC_SECRET not in (settings.jwt_secret, settings.callback_secret)
    assert settings.callback_secret != settings.jwt_secret
    # Not the old derivation, nor any other: it is a secret of its own.
    derived = hashlib.sha256(f"mpesa-callback:{settings.jwt_secret}".encode()).hexdigest()
    assert settings.callback_secret != derived
    database = Database(database_url)
    try:
        async with database.unit_of_work() as session:
            rows = await session.execute(select(InstallSecret.name, InstallSecret.value))
            stored = {name: value for name, value in rows}
    finally:
        await database.dispose()
    assert stored == {
        "jwt_secret": settings.jwt_secret,
        "mpesa_callback_secret": settings.callback_secret,
    }


async def test_two_apps_on_one_database_share_the_generated_secrets(
    database_url: str, redis_url: str | None
) -> None:
    await _forget_install_secrets(database_url)
    async with (
        served(database_url, redis_url, jwt_secret="") as first,
        served(database_url, redis_url, jwt_secret="") as second,
    ):
        assert first.runtime.settings.jwt_secret == second.runtime.settings.jwt_secret
        assert first.runtime.settings.callback_secret == second.runtime.settings.callback_secret
        account = await register(first.client)
        me = await second.client.get("/me", headers=bearer(account["access_token"]))
        assert me.status_code == 200


async def test_workers_starting_at_once_agree_on_one_secret(
    database_url: str, redis_url: str | None
) -> None:
    await _forget_install_secrets(database_url)
    unset = make_settings(database_url, redis_url, jwt_secret="")
    databases = [Database(database_url) for _ in range(4)]
    try:
        # Each worker has its own connection pool; all race to insert the first secret.
        resolved = await asyncio.gather(*(load_secrets(db, unset) for db in databases))
    finally:
        for database in databases:
            await database.dispose()
    assert len({s.jwt_secret for s in resolved}) == 1
    assert len({s.callback_secret for s in resolved}) == 1


async def test_a_command_line_runtime_sees_the_apps_secrets(fresh_install: Served) -> None:
    # The CLI builds its runtime from the same settings (and database), as `gamehub
    # payments reconcile` or `gamehub user deactivate` do.
    app_settings = fresh_install.runtime.settings
    runtime = await start_runtime(
        make_settings(app_settings.database_url, app_settings.redis_url, jwt_secret="")
    )
    try:
        assert runtime.settings.jwt_secret == app_settings.jwt_secret
        assert runtime.settings.callback_secret == app_settings.callback_secret
    finally:
        await runtime.close()


async def test_configured_secrets_win_and_the_log_names_places_not_values(
    database_url: str, redis_url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    configured = make_settings(
        database_url, redis_url, jwt_secret="j" * 40, mpesa_callback_secret="c" * 40
    )
    database = Database(database_url)
    try:
        with caplog.at_level(logging.INFO, logger="gamehub.secrets"):
            resolved = await load_secrets(database, configured)
            generated = await load_secrets(
                database, make_settings(database_url, redis_url, jwt_secret="")
            )
    finally:
        await database.dispose()
    assert (resolved.jwt_secret, resolved.callback_secret) == ("j" * 40, "c" * 40)
    log = caplog.text
    assert "jwt_secret: from GAMEHUB_JWT_SECRET" in log
    assert "kept in the database table install_secrets" in log
    for secret in (
        "j" * 40,
        "c" * 40,
        generated.jwt_secret,
        generated.callback_secret,
    ):
        assert secret not in log
