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

Frames are written by hand rather than with Litestar's ``ServerSentEvent``: that one
encodes every message once per client (and hops to a thread as each stream starts),
where a broadcast here encodes its JSON once (:attr:`Event.payload`) and each client
only joins a few bytes around it. A worker holds thousands of streams for minutes
each, and every object a stream keeps alive is traversed by each full garbage
collection, so a stream keeps few: one task that sends its frames and a pending
``receive`` that hears the client hang up (Litestar's ``Stream`` runs an anyio task
group, two tasks, cancel scopes and an async generator per response), and under
``gamehub serve`` it leaves the middleware stack once its headers are out
(:mod:`gamehub.realtime.asgi`). Measured in ``bench/sse_fanout.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from litestar.enums import MediaType
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send
from litestar.utils.helpers import get_enum_string_value
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core import metrics
from gamehub.core.events import (
    Event,
    EventBus,
    Subscription,
    SubscriptionClosed,
    SubscriptionEnded,
    SubscriptionLost,
    publish_after_commit,
    room_topic,
    sse_message,
)
from gamehub.core.logs import in_this_request
from gamehub.core.runtime import Runtime
from gamehub.core.tokens import digest
from gamehub.games.roulette.errors import RoomNotFound
from gamehub.realtime import events
from gamehub.realtime.asgi import HANDOFF
from gamehub.realtime.errors import TooManyStreams, WorkerBusy
from gamehub.realtime.repository import room_exists

if TYPE_CHECKING:
    from litestar import Litestar, Request
    from litestar.background_tasks import BackgroundTask, BackgroundTasks
    from litestar.datastructures import Cookie
    from litestar.types import TypeEncodersMap

logger = logging.getLogger("gamehub.realtime")

# Tells EventSource how long to wait before reconnecting, in milliseconds.
RECONNECT_MS = 3000
# When the worker shuts down, each stream's last message asks its client to come back
# after a random wait in this range: soon, and not all of them in the same instant, to
# the workers (or hosts) still serving.
SHUTDOWN_RETRY_MS = (250, 2000)
HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
_END: dict[str, Any] = {"type": "http.response.body", "body": b"", "more_body": False}

_encode = msgspec.json.Encoder().encode


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


class Lease:
    """One of ``limit`` slots under ``key`` in the cache, held by one stream."""

    __slots__ = ("_cache", "_holder", "_key", "_limit", "_seconds")

    def __init__(self, runtime: Runtime, key: str, limit: int) -> None:
        self._cache = runtime.cache
        self._key = key
        self._limit = limit
        self._seconds = _lease(runtime)
        self._holder = uuid.uuid4().hex

    async def claim(self) -> bool:
        """Take the slot, or renew it; False when ``limit`` others hold theirs."""
        return await self._cache.claim_slot(self._key, self._holder, self._limit, self._seconds)

    async def release(self) -> None:
        await self._cache.release_slot(self._key, self._holder)


class EventStream:
    """One SSE response over some topics, with what it must give back when it ends."""

    __slots__ = ("_lease", "_still_valid", "after_id", "bus", "heartbeat", "holder", "topics")

    def __init__(
        self,
        runtime: Runtime,
        topics: Sequence[str],
        after_id: str | None,
        *,
        holder: Holder | None = None,
        still_valid: Callable[[], Awaitable[bool]] | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.bus: EventBus = runtime.events
        self.holder = holder
        self._still_valid = still_valid
        self.topics = list(topics)
        self.after_id = after_id
        self.heartbeat = runtime.settings.sse_heartbeat_seconds
        self._lease = lease

    def response(self) -> Stream:
        return EventStreamResponse(self)

    async def run(self, send: Send, receive: Receive) -> None:
        """Send the stream's frames until it ends or its client hangs up."""
        # Subscribing here rather than in the handler means a response that never
        # starts (its client gone at once) leaves no subscriber behind.
        try:
            subscription = await self.bus.open(self.topics, self.after_id, self.heartbeat)
        except Exception:
            logger.exception("could not subscribe to %s", self.topics)
            await self._give_back()
            await _send(send, _END)
            return
        client = _Client(send, receive, subscription)
        open_streams = metrics.SSE_CONNECTIONS.labels("user" if self.holder else "watcher")
        open_streams.inc()
        try:
            hello = events.Connected(self.topics, self.heartbeat, self.after_id)
            position = subscription.position
            await client.write(
                sse_message(position, "connected", events.frame(hello), RECONNECT_MS)
            )
            while True:
                event = await subscription.get()
                if event is not None and event.name == STREAM_CLOSED:
                    # Replayed or live, an order for another credential is not the
                    # client's business; its own ends the stream.
                    if self.holder is not None and self.holder.closed_by(event):
                        reason = _closed(event.data["reason"])
                        await client.write(sse_message(event.id, STREAM_CLOSED, reason))
                        break
                    continue
                if event is not None:
                    await client.write(event.message)
                    continue
                position = subscription.position
                if self._still_valid is not None and not await self._still_valid():
                    await client.write(sse_message(position, STREAM_CLOSED, _closed("revoked")))
                    break
                if self._lease is not None and not await self._lease.claim():
                    break
                beat = events.frame(events.Heartbeat(datetime.now(UTC)))
                await client.write(sse_message(position, "heartbeat", beat))
        except SubscriptionLost:
            logger.info("closed a stream that fell behind on %s", self.topics)
        except SubscriptionEnded:
            # A message of only a retry field dispatches no event: the browser's
            # EventSource reconnects after that wait, with its Last-Event-ID.
            await client.write(b"retry: %d\n\n" % random.randint(*SHUTDOWN_RETRY_MS))
        except SubscriptionClosed:
            # The client hung up: there is no one to end the response for.
            return
        finally:
            open_streams.dec()
            client.stop_listening()
            self.bus.unsubscribe(subscription)
            await self._give_back()
        await _send(send, _END)

    async def _give_back(self) -> None:
        if self._lease is not None:
            # The stream ends by cancellation when the server shuts down; the release
            # must still reach Redis.
            with anyio.CancelScope(shield=True):
                await self._lease.release()


async def _send(send: Send, message: Any) -> bool:
    """False if the client is gone. A server reports a send on a closed connection
    with an error of its own (granian's is not an OSError); whichever it is, the
    stream has no one left to write to."""
    try:
        await send(message)
    except Exception:
        return False
    return True


class _Client:
    """A stream's client: writes its frames, and closes its subscription when it hangs
    up, heard by a pending ``receive`` with a callback rather than a task per stream
    waiting on it."""

    __slots__ = ("_pending", "_receive", "_send", "_subscription")

    def __init__(self, send: Send, receive: Receive, subscription: Subscription) -> None:
        self._send = send
        self._receive = receive
        self._subscription = subscription
        self._pending: asyncio.Future[Any] | None = None
        self._listen()

    async def write(self, data: bytes) -> None:
        message = {"type": "http.response.body", "body": data, "more_body": True}
        if not await _send(self._send, message):
            self._subscription.close()

    def _listen(self) -> None:
        self._pending = asyncio.ensure_future(self._receive())
        self._pending.add_done_callback(self._heard)

    def _heard(self, done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            return
        if done.exception() is None and done.result().get("type") != "http.disconnect":
            # The rest of a request body: keep listening for the hang-up.
            self._listen()
            return
        self._subscription.close()

    def stop_listening(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        self._pending = None


class EventStreamResponse(Stream):
    """A Litestar response for an :class:`EventStream` (documented as a ``Stream``)."""

    def __init__(self, stream: EventStream) -> None:
        super().__init__((), media_type="text/event-stream", headers=HEADERS)
        self.stream = stream

    def to_asgi_response(
        self,
        app: Litestar | None,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> ASGIResponse:
        return _EventStreamASGI(
            self.stream,
            background=self.background or background,
            cookies=self.cookies if cookies is None else itertools.chain(self.cookies, cookies),
            encoded_headers=encoded_headers,
            headers={**headers, **self.headers} if headers is not None else self.headers,
            is_head_response=is_head_response,
            media_type=get_enum_string_value(self.media_type or media_type or MediaType.TEXT),
            status_code=self.status_code or status_code,
        )


class _EventStreamASGI(ASGIResponse):
    __slots__ = ("_stream",)
    _should_set_content_length = False

    def __init__(self, stream: EventStream, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.start_response(send=send)
        if HANDOFF in scope:
            # The server's wrapper streams the body once the middleware stack is done.
            # Its log lines still carry the request's id.
            scope[HANDOFF] = in_this_request(self._stream.run)  # type: ignore[literal-required]
        else:
            await self._stream.run(send, receive)


def _closed(reason: str) -> bytes:
    return events.frame(events.StreamClosed(reason))


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
    lease = Lease(runtime, key, limit)
    if not await lease.claim():
        raise TooManyStreams(refusal, retry_after_seconds=round(_lease(runtime)))
    return EventStream(
        runtime, topics, after_id, holder=holder, still_valid=still_valid, lease=lease
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


async def room_watcher_stream(
    session: AsyncSession, runtime: Runtime, address: str, room_id: int, after_id: str | None
) -> EventStream:
    """A watcher's stream of one roulette room's events; the room must exist."""
    if not await room_exists(session, room_id):
        raise RoomNotFound()
    return await watcher_stream(runtime, address, [room_topic(room_id)], after_id)


async def watcher_stream(
    runtime: Runtime, address: str, topics: Sequence[str], after_id: str | None
) -> EventStream:
    """An anonymous watcher's stream, holding one of its address's slots while it lives.

    Each open stream holds one of the worker's request slots for as long as it lives;
    with no account behind it, only its address and the worker's own total bound it.
    """
    settings = runtime.settings
    if runtime.events.subscriber_count() >= settings.sse_max_streams_per_worker:
        raise WorkerBusy(retry_after_seconds=round(_lease(runtime)))
    limit = settings.sse_max_watchers_per_address
    return await _leased_stream(
        runtime,
        _watchers_key(address),
        limit,
        f"At most {limit} rooms watched at once from one address; close one first",
        topics,
        after_id,
    )
