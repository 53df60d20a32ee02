"""Idempotency keys live at least a day, and are purged after their time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from gamehub.core.idempotency import purge_expired
from gamehub.core.runtime import Runtime
from gamehub.models import IdempotencyKey
from gamehub.settings import Settings
from tests.support.api import Client, register


async def test_expired_keys_are_purged_and_live_ones_kept(client: Client, runtime: Runtime) -> None:
    account = await register(client)
    now = datetime.now(UTC)
    async with runtime.db.unit_of_work() as session:
        for key, expires in (
            ("old", now - timedelta(seconds=1)),
            ("new", now + timedelta(hours=1)),
        ):
            session.add(
                IdempotencyKey(
                    user_id=account["id"],
                    key=key,
                    fingerprint="f" * 64,
                    response_status=200,
                    response_body="{}",
                    created_at=now,
                    expires_at=expires,
                )
            )
    assert await purge_expired(runtime) == 1
    async with runtime.db.unit_of_work() as session:
        left = (await session.execute(select(IdempotencyKey.key))).scalars().all()
    assert left == ["new"]


def test_keys_cannot_be_configured_to_live_less_than_a_day() -> None:
    with pytest.raises(ValidationError):
        Settings(idempotency_ttl_seconds=3600, _env_file=None)  # type: ignore[call-arg]
    assert Settings(_env_file=None).idempotency_ttl_seconds >= 24 * 3600  # type: ignore[call-arg]
