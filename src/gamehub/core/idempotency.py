"""Idempotency-Key for money-moving POSTs.

The first request with a key claims it in its own transaction, then does its work and
stores its response there too: the claim, the money it moved and the response commit
together or not at all, so a committed movement always has its response on record, and
a request that dies leaves no claim behind. A repeat replays that response; a repeat
while the first still runs waits for it (the claim's row is locked until then); the same
key on a different request is 422.

A request that commits a money step before its end (a payment recorded before M-Pesa is
asked, see :func:`gamehub.core.db.commit_durable_step`) names what it created with
:func:`record_created` in that same commit. From then on the key is never freed and the
request never runs again: a repeat gets the stored response or, if the first request died
before storing one, the current state of what it created, rendered by the caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from sqlalchemy import delete, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import Phase, after_commit, commit_durable_step
from gamehub.core.jobs import periodic
from gamehub.core.runtime import Runtime
from gamehub.errors import Conflict, GamehubError, ValidationError, ValidationFailed
from gamehub.models import IdempotencyKey, User

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# A claim with no response after this long belongs to a request that died mid-way.
ABANDONED_AFTER = timedelta(minutes=2)
# How long a worker keeps trying to free the claim of a request the database failed.
FREE_RETRY_SECONDS = 30
PURGE_INTERVAL_SECONDS = 3600
_CLAIM_KEY = "gamehub_idempotency_claim"

# Renders the current state of a resource a request created: (kind, id) -> response.
Render = Callable[[str, int], Awaitable[Response[bytes]]]


class IdempotencyKeyInUse(Conflict):
    """A request with this Idempotency-Key is still being processed: wait for it, then
    repeat to get its answer."""

    default_detail = "A request with this Idempotency-Key is still being processed"


class IdempotencyKeyReused(ValidationFailed):
    """This Idempotency-Key was used before with a different request (method, path or
    body): a key names one request."""

    default_detail = "This Idempotency-Key was already used with a different request"


# What a route that honours Idempotency-Key can answer besides its own errors.
IDEMPOTENCY: tuple[type[GamehubError], ...] = (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    ValidationError,
)


def json_response(body: msgspec.Struct, status_code: int) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status_code, media_type=MediaType.JSON)


async def record_created(session: AsyncSession, kind: str, resource_id: int) -> None:
    """Note on this request's claim (if it has one) that it created ``kind`` ``resource_id``.

    Call it before the durable step that makes the resource durable, so that both commit
    together. Raises :class:`IdempotencyKeyInUse` (before anything is durable) if the claim
    was taken from this request as abandoned in the meantime.
    """
    claim_id: int | None = session.info.get(_CLAIM_KEY)
    if claim_id is None:
        return
    result = await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_id, IdempotencyKey.resource_id.is_(None))
        .values(resource_kind=kind, resource_id=resource_id)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise IdempotencyKeyInUse()


async def idempotent(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    session: AsyncSession,
    user_id: int,
    produce: Callable[[], Awaitable[Response[bytes]]],
    current: Render | None = None,
) -> Response[bytes]:
    """Run ``produce`` once per key. ``current`` renders what :func:`record_created` named,
    for a repeat whose first request stored no response."""
    key = request.headers.get(HEADER)
    if key is None:
        return await produce()
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ValidationError.of(HEADER, f"must be 1 to {MAX_KEY_LENGTH} characters")
    body = await request.body()
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()

    claim_id, replay = await _claim(session, runtime, user_id, key, fingerprint, current)
    if replay is not None:
        return replay
    session.info[_CLAIM_KEY] = claim_id
    # The claim is part of the request's transaction, and goes with it on a rollback;
    # only a mid-request commit (a durable step) can make it durable before the end.
    durable = {"claim": False}

    async def made_durable() -> None:
        durable["claim"] = True

    after_commit(session, made_durable, phase=Phase.STATE)
    try:
        response = await produce()
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == claim_id)
            .values(response_status=response.status_code, response_body=response.content.decode())
        )
    except BaseException:
        if durable["claim"]:
            await _release(session, runtime, claim_id)
        raise
    finally:
        session.info.pop(_CLAIM_KEY, None)
    return response


async def _release(session: AsyncSession, runtime: Runtime, claim_id: int) -> None:
    """Free a claim that a durable step committed, for a request failing after it."""
    try:
        await session.rollback()
        await _free(session, claim_id)
        await commit_durable_step(session, "the failed request's key is free for its retry")
    except Exception:
        # The database went away under the request (the error being raised is then
        # most likely the same outage): free the key once it is back, so that the
        # client's retry is not refused as "in progress" for minutes.
        runtime.background.spawn(
            f"free-idempotency-key-{claim_id}", lambda: _free_when_back(runtime, claim_id)
        )


async def _free(session: AsyncSession, claim_id: int) -> None:
    """Delete the claim unless a resource was committed with its money step: then the key
    stays taken, so that a retry finds that payment instead of starting another one."""
    created = await session.execute(
        select(IdempotencyKey.resource_id).where(IdempotencyKey.id == claim_id)
    )
    if created.scalar_one_or_none() is None:
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim_id))


async def _free_when_back(runtime: Runtime, claim_id: int) -> None:
    deadline = time.monotonic() + FREE_RETRY_SECONDS
    while True:
        try:
            async with runtime.db.unit_of_work() as session:
                await _free(session, claim_id)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def _insert_if_absent(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert the claim in the request's own transaction; None if the key is taken.

    A concurrent request holding the same key uncommitted makes this wait (on the unique
    index, or on SQLite's write lock) until it commits or rolls back, so that what is then
    read is final. No savepoint: on conflict nothing fails, so nothing needs undoing.
    """
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(IdempotencyKey)
            .values(values)
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
            .returning(IdempotencyKey.id)
        )
        claim_id: int | None = (await session.execute(statement)).scalar_one_or_none()
        return claim_id
    # MySQL/MariaDB: IGNORE turns the duplicate into a warning and inserts nothing. But
    # InnoDB checks the foreign key first, so a repeat would wait on the duplicate while
    # holding a shared lock on the user's row, which deadlocks the first request if it
    # then locks that row (a first bet creating the player's seed does). Queueing the
    # user's keyed requests on that row instead leaves nothing to deadlock on.
    await session.execute(select(User.id).where(User.id == values["user_id"]).with_for_update())
    result = await session.execute(sa_insert(IdempotencyKey).prefix_with("IGNORE").values(values))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return int(result.lastrowid)  # type: ignore[attr-defined]


async def _claim(
    session: AsyncSession,
    runtime: Runtime,
    user_id: int,
    key: str,
    fingerprint: str,
    current: Render | None,
) -> tuple[int, Response[bytes] | None]:
    """Claim the key in the request's transaction, or return the response to replay."""
    now = runtime.clock.now()
    values = {
        "user_id": user_id,
        "key": key,
        "fingerprint": fingerprint,
        "created_at": now,
        "expires_at": now + timedelta(seconds=runtime.settings.idempotency_ttl_seconds),
    }
    for _ in range(2):
        claim_id = await _insert_if_absent(session, values)
        if claim_id is not None:
            return claim_id, None
        existing = (
            await session.execute(
                select(IdempotencyKey)
                .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if existing is None:
            continue
        # A claim that created something is never abandoned: running it again would move
        # the money a second time. One without a response or a resource was committed by
        # a durable step of a request that then died.
        stale = existing.expires_at <= now or (
            existing.response_status is None
            and existing.resource_id is None
            and existing.created_at <= now - ABANDONED_AFTER
        )
        if stale:
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == existing.id))
            continue
        if existing.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if existing.response_status is None or existing.response_body is None:
            if existing.resource_id is None or existing.resource_kind is None or current is None:
                raise IdempotencyKeyInUse()
            state = await current(existing.resource_kind, existing.resource_id)
            state.headers["Idempotent-Replayed"] = "true"
            return existing.id, state
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
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= runtime.clock.now())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def purger(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    """Hourly, on every worker: deleting the same expired rows twice is harmless."""
    return periodic("idempotency-key-purge", PURGE_INTERVAL_SECONDS, lambda: purge_expired(runtime))
