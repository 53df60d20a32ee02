"""Server-Sent Event streams: who may connect, how many at once, and what they are sent.

Every stream opens with ``connected`` and sends a ``heartbeat`` on a fixed beat. Both
carry as their id the stream's position (the last event id handed out), so a client's
Last-Event-ID never moves past an event it has not received.

A user's stream ends (with a last ``stream_closed`` event) when the credential it was
opened with is revoked: logout ends the streams of that session, a password change or
reset and deactivation end all of the user's. The order travels on the user's own topic,
so it reaches the stream on whichever worker holds it; each stream also re-checks its
credential at every heartbeat, for revocations the bus could not carry (a CLI command
on a server without Redis).

Frames are written by hand and streamed with Litestar's ``Stream`` rather than its
``ServerSentEvent``: that one encodes every message once per client (and hops to a
thread as each stream starts), where a broadcast here encodes its JSON once
(:attr:`Event.payload`) and each client only joins a few bytes around it. Measured in
``bench/sse_fanout.py``.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import msgspec
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.tokens import digest
from gamehub.core.runtime import Runtime
from gamehub.errors import ServiceUnavailable, TooManyRequests
from gamehub.realtime.bus import Event, EventBus, SubscriptionLost, publish_after_commit

logger = logging.getLogger("gamehub.realtime")

# Tells EventSource how long to wait before reconnecting, in milliseconds.
RECONNECT_MS = 3000
HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}

_encode = msgspec.json.Encoder().encode


def frame(event_id: str, name: str, payload: bytes, retry_ms: int | None = None) -> bytes:
    """One SSE message. Ids, names and single-line JSON hold no line breaks."""
    retry = f"retry: {retry_ms}\n" if retry_ms is not None else ""
    return f"id: {event_id}\nevent: {name}\n{retry}data: ".encode() + payload + b"\n\n"


def _ticket_key(ticket: str) -> str:
    return f"sse:ticket:{digest(ticket)}"


def _connections_key(user_id: int) -> str:
    return f"sse:connections:{user_id}"


# The bus event that ends streams; its data says which (see Holder.closed_by).
STREAM_CLOSED = "stream_closed"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who a stream or ticket belongs to, and by which credential."""

    user_id: int
    # When the credential was issued (an access token's iat, an API token's creation).
    issued_at: float
    # The login session (refresh-token family) of an access token; None for an API token.
    family_id: str | None

    def closed_by(self, event: Event) -> bool:
        """Whether a ``stream_closed`` order applies to this credential: one session's
        (logout), or every credential issued before the order (password, deactivation).
        A credential issued later, such as the login after a password change, stays."""
        family = event.data.get("family")
        if family is not None:
            return bool(family == self.family_id)
        return self.issued_at < float(event.data["before"])


def close_streams_after_commit(
    session: AsyncSession,
    runtime: Runtime,
    user_id: int,
    reason: str,
    *,
    family_id: str | None = None,
    before: float | None = None,
) -> None:
    """Once ``session`` commits, end the user's streams on every worker: those of one
    session (``family_id``), or all opened with credentials issued before ``before``."""
    data = {
        "reason": reason,
        "family": family_id,
        "before": time.time() if before is None else before,
    }
    publish_after_commit(session, runtime.events, STREAM_CLOSED, data, users=[user_id])


def _watchers_key(address: str) -> str:
    return f"sse:watchers:{address}"


async def issue_ticket(runtime: Runtime, holder: Holder) -> str:
    """A short-lived, single-use stand-in for the access token in an EventSource URL,
    so that a long-lived credential never lands in a log or a browser history. It
    carries the credential it was asked for with, and dies with it."""
    ticket = secrets.token_urlsafe(32)
    ttl = runtime.settings.sse_ticket_ttl_seconds
    await runtime.cache.set(_ticket_key(ticket), _encode(holder), ttl)
    return ticket


async def redeem_ticket(runtime: Runtime, ticket: str) -> Holder | None:
    raw = await runtime.cache.pop(_ticket_key(ticket))
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=Holder)
    except msgspec.DecodeError:
        # A ticket issued before tickets carried their credential (a bare user id)
        # cannot say whether that credential still stands: the client asks again.
        return None


class EventStream:
    """One SSE response over some topics, with what it must give back when it ends."""

    def __init__(
        self,
        runtime: Runtime,
        topics: Sequence[str],
        after_id: str | None,
        *,
        holder: Holder | None = None,
        still_valid: Callable[[], Awaitable[bool]] | None = None,
        renew: Callable[[], Awaitable[bool]] | None = None,
        release: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.bus: EventBus = runtime.events
        self.holder = holder
        self._still_valid = still_valid
        self.topics = list(topics)
        self.after_id = after_id
        self.heartbeat = runtime.settings.sse_heartbeat_seconds
        self._renew = renew
        self._release = release

    def response(self) -> Stream:
        return Stream(self._frames(), media_type="text/event-stream", headers=HEADERS)

    async def _frames(self) -> AsyncIterator[bytes]:
        # Subscribing here rather than in the handler means a response that never
        # starts (its client gone at once) leaves no subscriber behind.
        try:
            subscription = await self.bus.open(self.topics, self.after_id, self.heartbeat)
        except Exception:
            logger.exception("could not subscribe to %s", self.topics)
            await self._give_back()
            return
        try:
            hello = {
                "topics": self.topics,
                "heartbeat_seconds": self.heartbeat,
                "resumed_from": self.after_id,
            }
            yield frame(subscription.position, "connected", _encode(hello), RECONNECT_MS)
            while True:
                event = await subscription.get()
                if event is not None and event.name == STREAM_CLOSED:
                    # Replayed or live, an order for another credential is not the
                    # client's business; its own ends the stream.
                    if self.holder is not None and self.holder.closed_by(event):
                        yield frame(event.id, STREAM_CLOSED, _closed(event.data["reason"]))
                        return
                    continue
                if event is not None:
                    yield frame(event.id, event.name, event.payload)
                    continue
                if self._still_valid is not None and not await self._still_valid():
                    yield frame(subscription.position, STREAM_CLOSED, _closed("revoked"))
                    return
                if self._renew is not None and not await self._renew():
                    return
                beat = _encode({"time": datetime.now(UTC)})
                yield frame(subscription.position, "heartbeat", beat)
        except SubscriptionLost:
            logger.info("closed a stream that fell behind on %s", self.topics)
        finally:
            self.bus.unsubscribe(subscription)
            await self._give_back()

    async def _give_back(self) -> None:
        if self._release is not None:
            # The stream ends by cancellation when its client goes; the release must
            # still reach Redis.
            with anyio.CancelScope(shield=True):
                await self._release()


def _closed(reason: str) -> bytes:
    return _encode({"reason": reason})


class WorkerBusy(ServiceUnavailable):
    """This worker holds as many event streams as it may; another worker (or this one,
    later) can take the watcher."""


def _lease(runtime: Runtime) -> float:
    # Renewed at each heartbeat: a worker that dies without closing its streams frees
    # their slots within a few heartbeats.
    return max(3 * runtime.settings.sse_heartbeat_seconds, 1.0)


async def _leased_stream(
    runtime: Runtime,
    key: str,
    limit: int,
    refusal: str,
    topics: Sequence[str],
    after_id: str | None,
    *,
    holder: Holder | None = None,
    still_valid: Callable[[], Awaitable[bool]] | None = None,
) -> EventStream:
    """A stream holding one of ``limit`` slots under ``key`` while it lives."""
    lease_holder = uuid.uuid4().hex
    lease = _lease(runtime)
    if not await runtime.cache.claim_slot(key, lease_holder, limit, lease):
        raise TooManyRequests(refusal, retry_after_seconds=round(lease))

    async def renew() -> bool:
        return await runtime.cache.claim_slot(key, lease_holder, limit, lease)

    async def release() -> None:
        await runtime.cache.release_slot(key, lease_holder)

    return EventStream(
        runtime,
        topics,
        after_id,
        holder=holder,
        still_valid=still_valid,
        renew=renew,
        release=release,
    )


async def user_stream(
    runtime: Runtime,
    holder: Holder,
    topics: Sequence[str],
    after_id: str | None,
    still_valid: Callable[[], Awaitable[bool]],
) -> EventStream:
    """A user's stream, holding one of their connection slots while it lives;
    ``still_valid`` is asked at each heartbeat whether the stream's credential is."""
    limit = runtime.settings.sse_max_connections_per_user
    return await _leased_stream(
        runtime,
        _connections_key(holder.user_id),
        limit,
        f"At most {limit} event streams per user; close one first",
        topics,
        after_id,
        holder=holder,
        still_valid=still_valid,
    )


async def watcher_stream(
    runtime: Runtime, address: str, topics: Sequence[str], after_id: str | None
) -> EventStream:
    """An anonymous watcher's stream, holding one of its address's slots while it lives.

    Each open stream holds one of the worker's request slots for as long as it lives;
    with no account behind it, only its address and the worker's own total bound it.
    """
    settings = runtime.settings
    if runtime.events.subscriber_count() >= settings.sse_max_streams_per_worker:
        raise WorkerBusy(
            "This server is holding as many event streams as it can; try again shortly",
            headers={"Retry-After": str(round(_lease(runtime)))},
        )
    limit = settings.sse_max_watchers_per_address
    return await _leased_stream(
        runtime,
        _watchers_key(address),
        limit,
        f"At most {limit} rooms watched at once from one address; close one first",
        topics,
        after_id,
    )
