"""Events for players and rooms: published after the commit that caused them.

Topics are ``user:<id>`` (what concerns one player) and ``room:<id>`` (what happens in
a roulette room, for its players and watchers). This module holds the in-process bus;
with Redis configured every worker shares one (see ``gamehub.realtime``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import after_commit

HISTORY_PER_TOPIC = 200


def user_topic(user_id: int) -> str:
    return f"user:{user_id}"


def room_topic(room_id: int) -> str:
    return f"room:{room_id}"


@dataclass(frozen=True, slots=True)
class Event:
    # Increasing within the bus: what a reconnecting client names as Last-Event-ID.
    id: int
    name: str
    data: Mapping[str, Any]
    topics: tuple[str, ...]


class EventBus(Protocol):
    async def publish(self, name: str, data: Mapping[str, Any], topics: Sequence[str]) -> None: ...

    def subscribe(self, topics: Sequence[str], after_id: int | None = None) -> AsyncIterator[Event]:
        """Events on any of ``topics`` from now on, after replaying those newer than
        ``after_id`` still in the history."""
        ...

    async def close(self) -> None: ...


class LocalEventBus:
    """One process's bus: a bounded history per topic and a queue per subscriber."""

    def __init__(self, history: int = HISTORY_PER_TOPIC) -> None:
        self._ids = itertools.count(1)
        self._history: dict[str, deque[Event]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}
        self._history_size = history

    async def publish(self, name: str, data: Mapping[str, Any], topics: Sequence[str]) -> None:
        event = Event(next(self._ids), name, dict(data), tuple(topics))
        delivered: set[int] = set()
        for topic in event.topics:
            self._history.setdefault(topic, deque(maxlen=self._history_size)).append(event)
            for queue in self._subscribers.get(topic, ()):
                if id(queue) not in delivered:
                    delivered.add(id(queue))
                    queue.put_nowait(event)

    async def subscribe(
        self, topics: Sequence[str], after_id: int | None = None
    ) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        for topic in topics:
            self._subscribers.setdefault(topic, set()).add(queue)
        try:
            if after_id is not None:
                missed = {
                    e.id: e
                    for topic in topics
                    for e in self._history.get(topic, ())
                    if e.id > after_id
                }
                for event_id in sorted(missed):
                    yield missed[event_id]
            while True:
                yield await queue.get()
        finally:
            for topic in topics:
                self._subscribers.get(topic, set()).discard(queue)

    async def close(self) -> None:
        self._subscribers.clear()


def publish_after_commit(
    session: AsyncSession,
    bus: EventBus,
    name: str,
    data: Mapping[str, Any],
    *,
    users: Iterable[int] = (),
    rooms: Iterable[int] = (),
) -> None:
    """Publish once ``session`` commits; a rollback drops the event."""
    topics = [user_topic(u) for u in users] + [room_topic(r) for r in rooms]
    if not topics:
        return

    async def send() -> None:
        await bus.publish(name, data, topics)

    after_commit(session, send)
