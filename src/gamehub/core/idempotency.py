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
before storing one, the current state of what it created, rendered by the route.

A route takes part through its ``idempotency`` dependency (:func:`idempotency_guard`): the
claim is made, or the replay answered (:class:`IdempotentReplay`, before the handler
runs), while dependencies resolve; the handler returns its typed body through
:meth:`Idempotency.keep`, which stores it encoded exactly as it is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Annotated, Any, TypeAlias, TypeVar

from litestar import Request, Response
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.openapi.spec import Example
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import HeaderParameter
from litestar.serialization import encode_json, get_serializer
from litestar.types import ExceptionHandlersMap
from sqlalchemy import delete, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import DbSession, Phase, after_commit
from gamehub.core.runtime import Runtime, RuntimeDep
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
REPLAYED_HEADER = "Idempotent-Replayed"

T = TypeVar("T")

# Renders the current state of a resource a request created, for a repeat whose first
# request stored no response: (session, user id, kind, id) -> the route's response body.
Render = Callable[[AsyncSession, int, str, int], Awaitable[Any]]

KeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        required=False,
        # A string when sent (absent, not null, otherwise). The bounds are documented, not
        # enforced here: a bad key is refused with our own 422 below.
        schema_extra={
            "type": OpenAPIType.STRING,
            "one_of": None,
            "min_length": 1,
            "max_length": MAX_KEY_LENGTH,
        },
        description=(
            f"1 to {MAX_KEY_LENGTH} characters, unique per operation: a repeat with the same "
            "key and body replays the first response (with `Idempotent-Replayed: true`) "
            "instead of moving money again; the same key with another body is refused."
        ),
        examples=[Example(value="0b9d6a52-5c1e-4c59-9a43-7d3f0f2b8e11")],
    ),
]


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


class IdempotentReplay(Exception):
    """Raised by the guard, before the handler runs, to answer with a stored response."""

    def __init__(self, response: Response[bytes]) -> None:
        super().__init__("idempotent replay")
        self.response = response


def replay_response(_: Request[Any, Any, Any], exc: IdempotentReplay) -> Response[bytes]:
    return exc.response


exception_handlers: ExceptionHandlersMap = {IdempotentReplay: replay_response}


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


class Idempotency:
    """A money-moving request's claim on its key (none without the header).

    The handler ends with ``return await idempotency.keep(body)``: the body is stored on
    the claim, in the request's transaction, encoded exactly as the response will be.
    """

    def __init__(
        self, request: Request[Any, Any, Any], session: AsyncSession, claim_id: int | None
    ) -> None:
        self._request = request
        self._session = session
        self.claim_id = claim_id
        # The claim is part of the request's transaction, and goes with it on a rollback;
        # only a mid-request commit (a durable step) can make it durable before the end.
        self.durable = False

    async def keep(self, body: T) -> T:
        if self.claim_id is not None:
            self._session.info.pop(_CLAIM_KEY, None)
            await self._session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == self.claim_id)
                .values(
                    response_status=self._request.route_handler.status_code,
                    response_body=_encode(self._request, body).decode(),
                )
            )
        return body


# How a guarded handler asks for its claim.
IdempotencyDep: TypeAlias = NamedDependency[Idempotency]


def _encode(request: Request[Any, Any, Any], body: Any) -> bytes:
    """The bytes Litestar will send for ``body``: its own encoder, the route's encoders."""
    serializer = get_serializer(request.route_handler.resolve_type_encoders())
    return encode_json(body, serializer)


def idempotency_guard(current: Render | None = None) -> Provide:
    """The ``idempotency`` dependency of a money-moving route.

    With an ``Idempotency-Key`` the first request claims it in its own transaction; a
    repeat is answered from the stored response before the handler runs (or, when the
    first request made something durable but stored no response, from ``current``).
    """

    async def provide(
        request: Request[Any, Any, Any],
        db_session: DbSession,
        runtime: RuntimeDep,
        # Whatever the app's identity dependency gives: only its ``user_id`` is read.
        identity: NamedDependency[Any],
        idempotency_key: KeyHeader = None,
    ) -> AsyncGenerator[Idempotency, None]:
        key = idempotency_key
        if key is None:
            yield Idempotency(request, db_session, None)
            return
        if not 0 < len(key) <= MAX_KEY_LENGTH:
            raise ValidationError.of(HEADER, f"must be 1 to {MAX_KEY_LENGTH} characters")
        user_id: int = identity.user_id
        body = await request.body()
        fingerprint = hashlib.sha256(
            request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
        ).hexdigest()
        claim_id = await _claim(db_session, runtime, request, user_id, key, fingerprint, current)
        guard = Idempotency(request, db_session, claim_id)
        db_session.info[_CLAIM_KEY] = claim_id

        async def made_durable() -> None:
            guard.durable = True

        after_commit(db_session, made_durable, phase=Phase.STATE)
        try:
            yield guard
        except BaseException:
            # The request's session has rolled back and closed by now (it is cleaned up
            # first); a claim a durable step committed is freed in a transaction of its own.
            if guard.durable:
                await _release(runtime, claim_id)
            raise

    return Provide(provide)


async def _release(runtime: Runtime, claim_id: int) -> None:
    """Free a claim that a durable step committed, for a request failing after it."""
    try:
        async with runtime.db.unit_of_work() as session:
            await _free(session, claim_id)
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
    request: Request[Any, Any, Any],
    user_id: int,
    key: str,
    fingerprint: str,
    current: Render | None,
) -> int:
    """Claim the key in the request's transaction, or raise the response to replay."""
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
            return claim_id
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
            state = await current(session, user_id, existing.resource_kind, existing.resource_id)
            raise IdempotentReplay(
                _replay(_encode(request, state), request.route_handler.status_code)
            )
        raise IdempotentReplay(_replay(existing.response_body.encode(), existing.response_status))
    raise IdempotencyKeyInUse()


def _replay(body: bytes, status_code: int) -> Response[bytes]:
    return Response(
        body, status_code=status_code, media_type=MediaType.JSON, headers={REPLAYED_HEADER: "true"}
    )


async def purge_expired(runtime: Runtime) -> int:
    """Delete keys past their time to live; returns how many went."""
    async with runtime.db.unit_of_work() as session:
        result = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= runtime.clock.now())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def purger(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    """Hourly, on one worker of all: deleting expired rows again is harmless."""
    return runtime.jobs.periodic(
        "idempotency-key-purge", PURGE_INTERVAL_SECONDS, lambda: purge_expired(runtime)
    )
