"""The optional read replica (``GAMEHUB_DATABASE_READ_URL``) of the read-heavy display
routes, and the rule that keeps users from seeing it lag behind their own writes.

Only reads that decide nothing go there: history, stats, a wallet's movements. Balances,
spins and every other money decision read the primary, always.

Read-your-writes: a request on a user's behalf (:func:`gamehub.core.db.note_caller`)
that commits a write marks the user for ``GAMEHUB_READ_AFTER_WRITE_SECONDS``; meanwhile
their eligible reads go to the primary. The mark is a cache entry with that TTL: in
Redis, shared by every worker and host; without Redis, this process's own, so a write
served by one worker and a read by another may see the replica's lag.
Within one request nothing is lost either way: once the request's own session has begun
a transaction, its reads stay in it, on the primary.

A replica that cannot be reached is an outage like Redis's: the reads go to the primary
(logged once per outage) and it is tried again a second later, never a 503.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.cache import Cache, hash_tag
from gamehub.core.clock import Clock
from gamehub.core.db import Database, database_unavailable
from gamehub.core.redis_client import Circuit

logger = logging.getLogger("gamehub.replica")

T = TypeVar("T")


def wrote_key(user_id: int) -> str:
    """The mark of a user's recent write; it shares the tag of the user's identity keys."""
    return f"wrote:{hash_tag(f'u{user_id}')}"


class ReadRouting:
    """Where an eligible read goes: the replica, or the primary when there is none, it is
    out of reach, or the reader wrote recently."""

    def __init__(
        self,
        replica: Database | None,
        *,
        window_seconds: int,
        marks: Cache,
        clock: Clock,
    ) -> None:
        self.replica = replica
        self._window = window_seconds
        self._marks = marks
        self.circuit = Circuit(
            "reads",
            clock=clock,
            service="read replica",
            fallback="reading the primary",
            log=logger,
        )

    async def wrote(self, user_id: int) -> None:
        """The user committed a write: their next reads, for a while, see the primary."""
        if self.replica is None:
            return
        await self._marks.set(wrote_key(user_id), b"1", ttl_seconds=self._window)

    async def wrote_recently(self, user_id: int) -> bool:
        return await self._marks.get(wrote_key(user_id)) is not None

    async def read(
        self,
        primary: AsyncSession,
        reader: int | None,
        step: Callable[[AsyncSession], Awaitable[T]],
    ) -> T:
        """``step`` on a replica session, or on ``primary`` (the request's session) when
        the replica may not serve ``reader`` (a user id, or None for an anonymous read).

        ``step`` only reads, and what it returns must not need the session any more: the
        replica's session is closed before it is returned.
        """
        if (
            self.replica is None
            or primary.in_transaction()
            or not self.circuit.allows()
            or (reader is not None and await self.wrote_recently(reader))
        ):
            return await step(primary)
        try:
            async with self.replica.sessionmaker() as session:
                result = await step(session)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            self.circuit.failed(exc)
            return await step(primary)
        self.circuit.succeeded()
        return result

    async def close(self) -> None:
        if self.replica is not None:
            await self.replica.dispose()
