"""Events for players and rooms: published after the commit that caused them.

Topics are ``user:<id>`` (what concerns one player) and ``room:<id>`` (what happens in
a roulette room, for its players and watchers). This module holds the interface, the
in-process bus and the per-process fan-out both buses share; with Redis configured
every worker shares one bus (:mod:`gamehub.core.redis_events`).

Event ids have Redis stream ids' form, ``<milliseconds>-<sequence>``, in both buses, so
that a client's ``Last-Event-ID`` means the same thing whichever bus or worker issued
it, and ids issued after a restart still sort after those issued before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.clock import Clock, SystemClock
from gamehub.core.db import Phase, after_commit

HISTORY_PER_TOPIC = 100
HISTORY_TTL_SECONDS = 600
# Events queued for one subscriber that is not reading; past this it is cut off, and
# its client resumes from the history with Last-Event-ID.
SUBSCRIBER_BACKLOG = 1000

# Bounds on how often the process's one ticker wakes.
TICK_MIN = 0.01
TICK_MAX = 1.0

_EVENT_ID = re.compile(r"^(\d{1,15})-(\d{1,15})$")
_encode = msgspec.json.Encoder().encode


def user_topic(user_id: int) -> str:
    return f"user:{user_id}"


def room_topic(room_id: int) -> str:
    return f"room:{room_id}"


def event_order(event_id: str) -> tuple[int, int]:
    """The sort key of a well-formed event id."""
    millis, _, sequence = event_id.partition("-")
    return int(millis), int(sequence)


def sse_message(event_id: str, name: str, payload: bytes, retry_ms: int | None = None) -> bytes:
    """One Server-Sent Events message. Ids, names and single-line JSON hold no line
    breaks."""
    retry = f"retry: {retry_ms}\n" if retry_ms is not None else ""
    return f"id: {event_id}\nevent: {name}\n{retry}data: ".encode() + payload + b"\n\n"


def parse_event_id(raw: str | None) -> str | None:
    """A client's Last-Event-ID if it is one of ours; anything else means "no resume"."""
    if raw is None:
        return None
    raw = raw.strip()
    return raw if _EVENT_ID.match(raw) else None


@dataclass(frozen=True)
class Event:
    # "<milliseconds>-<sequence>", increasing across the bus: what a reconnecting
    # client names as Last-Event-ID.
    id: str
    name: str
    data: Mapping[str, Any]
    topics: tuple[str, ...]

    @cached_property
    def payload(self) -> bytes:
        """``data`` as one line of JSON, encoded once however many clients it goes to."""
        return _encode(self.data)

    @cached_property
    def message(self) -> bytes:
        """The event as an SSE message, made once however many streams send it."""
        return sse_message(self.id, self.name, self.payload)

    @cached_property
    def order(self) -> tuple[int, int]:
        return event_order(self.id)


class SubscriptionLost(Exception):
    """The subscriber fell too far behind; its client should reconnect and resume."""


class SubscriptionClosed(Exception):
    """The subscription was closed (its client hung up); nothing more will come."""


class SubscriptionEnded(Exception):
    """The process is shutting down: the client should reconnect, to another worker, and
    resume from its last event id."""


class Subscription:
    """One client's view of some topics: missed events first, then live ones, in id order.

    ``position`` is the id of the last event handed out (or the point the subscription
    started from): the id a client may resume from without missing or repeating one.
    With ``tick_every``, :meth:`get` also returns None that often (a heartbeat's cue).

    A server holds thousands of these for as long as their clients stay, so each is a
    few plain objects: a deque and, while its reader waits, one future (an
    ``asyncio.Queue`` is six containers more, and every one of them is traversed by
    each full garbage collection).
    """

    __slots__ = (
        "_backlog",
        "_closed",
        "_ended",
        "_items",
        "_lost",
        "_order",
        "_tick_queued",
        "_waiter",
        "next_tick",
        "position",
        "tick_every",
        "topics",
    )

    def __init__(
        self,
        topics: Sequence[str],
        position: str,
        backlog: int,
        tick_every: float | None = None,
    ) -> None:
        self.topics = tuple(dict.fromkeys(topics))
        self.position = position
        self.tick_every = tick_every
        self.next_tick = time.monotonic() + (tick_every or 0)
        self._order = event_order(position)
        self._items: deque[Event | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._backlog = backlog
        self._lost = False
        self._closed = False
        self._ended = False
        self._tick_queued = False

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _put(self, item: Event | None) -> None:
        if self._lost or self._closed or self._ended:
            return
        if len(self._items) >= self._backlog:
            self._lost = True
        else:
            self._items.append(item)
        self._wake()

    def offer(self, event: Event) -> None:
        self._put(event)

    def tick(self, now: float) -> None:
        assert self.tick_every is not None
        self.next_tick = now + self.tick_every
        # A subscriber that has not taken its last tick needs no second one.
        if not self._tick_queued:
            self._tick_queued = True
            self._put(None)

    def close(self) -> None:
        """End the subscription: a waiting :meth:`get` raises SubscriptionClosed. Safe
        to call from a callback, and more than once."""
        self._closed = True
        self._items.clear()
        self._wake()

    def end(self) -> None:
        """End the subscription because the process is stopping: a waiting :meth:`get`
        raises SubscriptionEnded. What is still queued is dropped; the client's resume
        replays it from the history."""
        self._ended = True
        self._items.clear()
        self._wake()

    def replay(self, missed: Iterable[Event]) -> None:
        """Queue missed events ahead of any live ones that arrived while they were read,
        so that ids are handed out in order and none is skipped as already seen."""
        queued = list(self._items)
        self._items.clear()
        merged = {event.id: event for event in (*missed, *queued) if event is not None}
        for event_id in sorted(merged, key=event_order):
            self._put(merged[event_id])
        if self._tick_queued:
            self._put(None)

    async def get(self) -> Event | None:
        """The next event, or None when a tick is due."""
        while True:
            if self._lost:
                raise SubscriptionLost()
            if self._closed:
                raise SubscriptionClosed()
            if self._ended:
                raise SubscriptionEnded()
            if not self._items:
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                continue
            event = self._items.popleft()
            if event is None:
                self._tick_queued = False
                return None
            # A replayed event may also arrive live; the id says it was handed out.
            if event.order > self._order:
                self._order = event.order
                self.position = event.id
                return event


class Fanout:
    """This process's subscribers by topic; an event reaches each subscriber once.

    One timer per process ticks every subscription that asked for ticks, rather than
    one timer per subscription re-armed at every event it receives.
    """

    def __init__(self) -> None:
        self._by_topic: dict[str, set[Subscription]] = {}
        self._ticking: set[Subscription] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._count = 0
        self._ending = False

    def add(self, subscription: Subscription) -> None:
        if self._ending:
            # Opened after the shutdown began (a kept-alive connection's new request):
            # the client is sent on its way at once.
            subscription.end()
        for topic in subscription.topics:
            self._by_topic.setdefault(topic, set()).add(subscription)
        self._count += 1
        if subscription.tick_every is not None:
            self._ticking.add(subscription)
            if self._ticker is None or self._ticker.done():
                self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    def remove(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            subscribers = self._by_topic.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._by_topic[topic]
        self._ticking.discard(subscription)
        self._count -= 1

    def deliver(self, event: Event) -> None:
        if len(event.topics) == 1:
            for subscription in self._by_topic.get(event.topics[0], ()):
                subscription.offer(event)
            return
        reached: set[Subscription] = set()
        for topic in event.topics:
            reached.update(self._by_topic.get(topic, ()))
        for subscription in reached:
            subscription.offer(event)

    async def _tick_forever(self) -> None:
        while self._ticking:
            shortest = min(s.tick_every or TICK_MAX for s in self._ticking)
            await asyncio.sleep(min(max(shortest / 4, TICK_MIN), TICK_MAX))
            now = time.monotonic()
            for subscription in self._ticking:
                if subscription.next_tick <= now:
                    subscription.tick(now)

    def end_all(self) -> None:
        """End every subscription, and any opened from now on: the process is stopping."""
        self._ending = True
        for subscribers in list(self._by_topic.values()):
            for subscription in subscribers:
                subscription.end()

    def __len__(self) -> int:
        return self._count

    async def close(self) -> None:
        self._by_topic.clear()
        self._ticking.clear()
        self._count = 0
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event to publish: its name, its data and the topics that hear it."""

    name: str
    data: Mapping[str, Any]
    topics: Sequence[str]


class EventBus(Protocol):
    async def publish(self, name: str, data: Mapping[str, Any], topics: Sequence[str]) -> str:
        """Send an event to every subscriber of any of ``topics``; returns its id."""
        ...

    async def publish_many(self, events: Sequence[Outgoing]) -> list[str]:
        """:meth:`publish` for each event, in order, in one round trip; returns their ids."""
        ...

    async def open(
        self, topics: Sequence[str], after_id: str | None = None, tick_every: float | None = None
    ) -> Subscription:
        """Events on any of ``topics`` from now on, after those newer than ``after_id``
        still in the bounded history. Close it with :meth:`unsubscribe`."""
        ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    def subscribe(self, topics: Sequence[str], after_id: str | None = None) -> AsyncIterator[Event]:
        """:meth:`open` as an iterator, unsubscribed when the iteration ends."""
        ...

    def subscriber_count(self) -> int:
        """Open subscriptions in this process."""
        ...

    def end_streams(self) -> None:
        """End this process's subscriptions, and refuse new ones the same way, so that
        their streams finish and the server can stop (see SubscriptionEnded)."""
        ...

    async def close(self) -> None: ...


class LocalEventBus:
    """One process's bus: a bounded history per topic and a queue per subscriber."""

    def __init__(
        self,
        history: int = HISTORY_PER_TOPIC,
        history_ttl_seconds: float = HISTORY_TTL_SECONDS,
        backlog: int = SUBSCRIBER_BACKLOG,
        clock: Clock | None = None,
    ) -> None:
        # The runtime's clock ages the history, as Redis's ages its streams.
        self._clock = clock or SystemClock()
        self._history: dict[str, deque[tuple[float, Event]]] = {}
        self._history_size = history
        self._history_ttl = history_ttl_seconds
        self._backlog = backlog
        self._fanout = Fanout()
        self._last = (0, 0)
        self._next_prune = 0.0

    def _next_id(self) -> str:
        # Redis's rule for stream ids: the clock, but never behind the previous id.
        millis = time.time_ns() // 1_000_000
        last_millis, last_sequence = self._last
        self._last = (millis, 0) if millis > last_millis else (last_millis, last_sequence + 1)
        return f"{self._last[0]}-{self._last[1]}"

    async def publish(self, name: str, data: Mapping[str, Any], topics: Sequence[str]) -> str:
        event = Event(self._next_id(), name, dict(data), tuple(dict.fromkeys(topics)))
        now = self._clock.monotonic()
        for topic in event.topics:
            self._history.setdefault(topic, deque(maxlen=self._history_size)).append((now, event))
        self._fanout.deliver(event)
        if now >= self._next_prune:
            self._prune(now)
        return event.id

    async def publish_many(self, events: Sequence[Outgoing]) -> list[str]:
        return [await self.publish(e.name, e.data, e.topics) for e in events]

    def _prune(self, now: float) -> None:
        """Forget the history of topics nobody published to for a while, as Redis
        expires their streams: a player who left does not hold memory forever."""
        stale = [
            t for t, events in self._history.items() if events[-1][0] < now - self._history_ttl
        ]
        for topic in stale:
            del self._history[topic]
        self._next_prune = now + min(self._history_ttl, 60.0)

    async def open(
        self, topics: Sequence[str], after_id: str | None = None, tick_every: float | None = None
    ) -> Subscription:
        end = f"{self._last[0]}-{self._last[1]}"
        # An id past the end was never issued here (forged, or from before a restart
        # whose clock ran behind): resuming from it would drop every live event as
        # "already seen", so it means "nothing to replay" instead.
        if after_id is not None and event_order(after_id) > self._last:
            after_id = None
        position = after_id or end
        subscription = Subscription(topics, position, self._backlog, tick_every)
        if after_id is not None:
            after = event_order(after_id)
            subscription.replay(
                event
                for topic in subscription.topics
                for _, event in self._history.get(topic, ())
                if event_order(event.id) > after
            )
        self._fanout.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._fanout.remove(subscription)

    def subscribe(self, topics: Sequence[str], after_id: str | None = None) -> AsyncIterator[Event]:
        return iterate(self, topics, after_id)

    def subscriber_count(self) -> int:
        return len(self._fanout)

    def end_streams(self) -> None:
        self._fanout.end_all()

    async def close(self) -> None:
        await self._fanout.close()


async def iterate(
    bus: EventBus, topics: Sequence[str], after_id: str | None
) -> AsyncIterator[Event]:
    subscription = await bus.open(topics, after_id)
    try:
        while True:
            event = await subscription.get()
            if event is not None:
                yield event
    finally:
        bus.unsubscribe(subscription)


PayloadCheck = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]


def _as_given(_: str, data: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(data)


# What builds an event's payload before it is queued: the realtime domain's structs
# (docs/events.md), installed by the composition root, since core knows no event by name.
_payload_check: PayloadCheck = _as_given


def check_payloads_with(check: PayloadCheck) -> None:
    """Have :func:`publish_after_commit` build every payload with ``check``."""
    global _payload_check
    _payload_check = check


def publish_after_commit(
    session: AsyncSession,
    bus: EventBus,
    name: str,
    data: Mapping[str, Any],
    *,
    users: Iterable[int] = (),
    rooms: Iterable[int] = (),
) -> None:
    """Publish once ``session`` commits; a rollback drops the event. ``data`` is built
    into the event's struct now (see :func:`check_payloads_with`), so that a wrong
    payload fails here."""
    topics = [user_topic(u) for u in users] + [room_topic(r) for r in rooms]
    if not topics:
        return
    data = _payload_check(name, data)

    async def send() -> None:
        await bus.publish(name, data, topics)

    after_commit(session, send, phase=Phase.EVENTS)
