"""Idempotency-Key for money-moving POSTs.

The first request with a key claims it in a transaction of its own, then does its work;
its response is stored in the same transaction as the money it moved, so a committed
movement always has its response on record. A repeat replays that response; a repeat
while the first still runs is 409; the same key on a different request is 422.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import checkpoint
from gamehub.core.jobs import periodic
from gamehub.core.runtime import Runtime
from gamehub.errors import Conflict, ValidationFailed
from gamehub.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# A claim with no response after this long belongs to a request that died mid-way.
ABANDONED_AFTER = timedelta(minutes=2)
PURGE_INTERVAL_SECONDS = 3600


class IdempotencyKeyInUse(Conflict):
    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed")


class IdempotencyKeyMismatch(ValidationFailed):
    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was already used with a different request")


def json_response(body: msgspec.Struct, status_code: int) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status_code, media_type=MediaType.JSON)


async def idempotent(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    session: AsyncSession,
    user_id: int,
    produce: Callable[[], Awaitable[Response[bytes]]],
) -> Response[bytes]:
    key = request.headers.get(HEADER)
    if key is None:
        return await produce()
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters")
    body = await request.body()
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()

    claim_id, replay = await _claim(session, runtime, user_id, key, fingerprint)
    if replay is not None:
        return replay
    try:
        response = await produce()
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == claim_id)
            .values(response_status=response.status_code, response_body=response.content.decode())
        )
    except BaseException:
        # What failed moved no money (or committed its own record of it first): free the
        # key so that the client may retry.
        await session.rollback()
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim_id))
        await checkpoint(session)
        raise
    return response


async def _claim(
    session: AsyncSession, runtime: Runtime, user_id: int, key: str, fingerprint: str
) -> tuple[int, Response[bytes] | None]:
    """Claim the key durably (committed at once), or return the response to replay.

    The request's own session does it, committing mid-request: on SQLite a second
    connection would wait for this one's write lock.
    """
    now = datetime.now(UTC)
    for _ in range(2):
        claim = IdempotencyKey(
            user_id=user_id,
            key=key,
            fingerprint=fingerprint,
            created_at=now,
            expires_at=now + timedelta(seconds=runtime.settings.idempotency_ttl_seconds),
        )
        try:
            async with session.begin_nested():
                session.add(claim)
        except IntegrityError:
            pass
        else:
            await checkpoint(session)
            return claim.id, None
        existing = (
            await session.execute(
                select(IdempotencyKey)
                .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if existing is None:
            continue
        stale = existing.expires_at <= now or (
            existing.response_status is None and existing.created_at <= now - ABANDONED_AFTER
        )
        if stale:
            await session.delete(existing)
            await checkpoint(session)
            continue
        if existing.fingerprint != fingerprint:
            raise IdempotencyKeyMismatch()
        if existing.response_status is None or existing.response_body is None:
            raise IdempotencyKeyInUse()
        replay: Response[bytes] = Response(
            existing.response_body.encode(),
            status_code=existing.response_status,
            media_type=MediaType.JSON,
            headers={"Idempotent-Replayed": "true"},
        )
        return existing.id, replay
    raise IdempotencyKeyInUse()


async def purge_expired(runtime: Runtime) -> int:
    """Delete keys past their time to live; returns how many went."""
    async with runtime.db.unit_of_work() as session:
        result = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= datetime.now(UTC))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def purger(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    """Hourly, on every worker: deleting the same expired rows twice is harmless."""
    return periodic("idempotency-key-purge", PURGE_INTERVAL_SECONDS, lambda: purge_expired(runtime))
