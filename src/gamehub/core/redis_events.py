"""The event bus every worker shares, on Redis streams.

Why streams and not Litestar's Channels plugin (or plain pub/sub): a client resuming
with ``Last-Event-ID`` needs ids that every worker issued from one sequence and that
it can read "after" in a topic's history. The Channels plugin's Redis stream backend
neither exposes the stream ids nor reads a history after an id, and it starts each
newly subscribed channel from the beginning of its stream; pub/sub loses whatever is
published while a worker reconnects. So:

- one Lua script per publish (or batch) appends each event to a global stream
  (``{events}``; its id is the event id) and, under the same id, to each topic's
  stream, which is capped (``MAXLEN``) and expires when idle: the bounded history a
  client resumes from;
- each worker runs one reader that follows the global stream with ``XREAD BLOCK`` and
  hands every event to its own subscribers (:class:`~gamehub.core.events.Fanout`).
  One Redis connection per worker serves any number of SSE clients, and a reader that
  reconnects resumes from the last id it saw, losing nothing still in the stream.

While Redis cannot be reached, the bus degrades to in-process delivery: a publish
reaches the subscribers of the worker that made it, new streams open without a replay,
and everything goes back through Redis as soon as it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import msgspec

from gamehub.core.events import (
    HISTORY_PER_TOPIC,
    HISTORY_TTL_SECONDS,
    SUBSCRIBER_BACKLOG,
    Event,
    Fanout,
    Outgoing,
    Subscription,
    event_order,
    iterate,
)
from gamehub.core.redis_client import UNAVAILABLE, Circuit, RedisClient

logger = logging.getLogger("gamehub.realtime")

# How far a worker's reader may fall behind before it misses events; a reader keeps
# up within milliseconds, so this only matters across a Redis reconnect.
GLOBAL_STREAM_LENGTH = 10_000
# Well under redis-py's 5 s socket timeout, which a blocked read must not reach.
READ_BLOCK_MS = 1_000
READ_BATCH = 500
READY_TIMEOUT_SECONDS = 5.0
# The reader's longest pause between two attempts to reach Redis again.
MAX_RECONNECT_DELAY = 1.0

# KEYS[1]: the global stream; KEYS[2..]: the topics' streams of every event in the batch.
# ARGV: global cap, topic cap, topic idle expiry (ms), then per event its payload, the
# number of its topics and their indexes in KEYS. Returns the events' ids, in order.
_PUBLISH = """
local ids = {}
local i = 4
while i <= #ARGV do
    local payload, topics = ARGV[i], tonumber(ARGV[i + 1])
    local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', payload)
    for k = i + 2, i + 1 + topics do
        local key = KEYS[tonumber(ARGV[k])]
        -- Only fails if a topic's stream outlived a reset of the global one; the event
        -- still goes out live, it is just not in that topic's history.
        redis.pcall('XADD', key, 'MAXLEN', ARGV[2], id, 'e', payload)
        redis.call('PEXPIRE', key, ARGV[3])
    end
    ids[#ids + 1] = id
    i = i + 2 + topics
end
return ids
"""


class _Wire(msgspec.Struct, array_like=True):
    name: str
    data: dict[str, Any]
    topics: list[str]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Wire).decode


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisEventBus:
    def __init__(
        self,
        client: RedisClient,
        prefix: str,
        *,
        history: int = HISTORY_PER_TOPIC,
        history_ttl_seconds: float = HISTORY_TTL_SECONDS,
        backlog: int = SUBSCRIBER_BACKLOG,
        circuit: Circuit | None = None,
    ) -> None:
        self._client = client
        self._circuit = circuit or Circuit("event bus")
        self._prefix = prefix
        # Every stream of the bus shares one hash tag, so that in a Redis Cluster they
        # live in one slot: a publish appends to the global stream and to its topics'
        # in one script, which a cluster runs only on keys of a single slot.
        self._stream = f"{prefix}{{events}}"
        self._history = history
        self._history_ttl_ms = max(1, round(history_ttl_seconds * 1000))
        self._backlog = backlog
        self._publish = client.register_script(_PUBLISH)
        self._fanout = Fanout()
        self._reader: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        # The last global-stream id this worker's reader handed out.
        self._position = "0-0"
        # The last id handed out in process while Redis was unreachable.
        self._local = "0-0"
        # redis-py may turn the cancellation of a blocked read into a ConnectionError,
        # which the reader would take for an outage and retry: this tells it to stop.
        self._closing = False

    @property
    def degraded(self) -> bool:
        return self._circuit.degraded

    def _topic_key(self, topic: str) -> str:
        return f"{self._stream}:{topic}"

    async def publish(self, name: str, data: Mapping[str, Any], topics: Sequence[str]) -> str:
        (event_id,) = await self.publish_many([Outgoing(name, data, topics)])
        return event_id

    async def publish_many(self, events: Sequence[Outgoing]) -> list[str]:
        """One script call for the whole batch (a cluster refuses scripts in a pipeline)."""
        if not events:
            return []
        wires = []
        keys = [self._stream]
        index: dict[str, int] = {}
        args: list[str | int | bytes] = [GLOBAL_STREAM_LENGTH, self._history, self._history_ttl_ms]
        for event in events:
            unique = list(dict.fromkeys(event.topics))
            payload = _encode(_Wire(event.name, dict(event.data), unique))
            wires.append((event, unique))
            args.extend([payload, len(unique)])
            for topic in unique:
                if topic not in index:
                    keys.append(self._topic_key(topic))
                    # Lua's KEYS counts from 1.
                    index[topic] = len(keys)
                args.append(index[topic])
        if self._circuit.allows():
            try:
                ids = await self._publish(keys=keys, args=args)
            except UNAVAILABLE as exc:
                self._circuit.failed(exc)
            else:
                self._circuit.succeeded()
                return [_text(i) for i in ids]
        # This worker's own subscribers still hear them; they are in no history.
        delivered = []
        for event, unique in wires:
            local = Event(self._local_id(), event.name, dict(event.data), tuple(unique))
            self._fanout.deliver(local)
            delivered.append(local.id)
        return delivered

    def _local_id(self) -> str:
        """An id after every one handed out so far, by Redis's rule (clock, sequence)."""
        last_millis, last_sequence = max(event_order(self._position), event_order(self._local))
        millis = time.time_ns() // 1_000_000
        self._local = (
            f"{millis}-0" if millis > last_millis else f"{last_millis}-{last_sequence + 1}"
        )
        return self._local

    async def open(
        self, topics: Sequence[str], after_id: str | None = None, tick_every: float | None = None
    ) -> Subscription:
        reachable = await self._start_reader()
        known = max(self._position, self._local, key=event_order)
        if after_id is not None and event_order(after_id) > event_order(known):
            try:
                after_id = await self._issued(after_id) if reachable else None
            except UNAVAILABLE as exc:
                self._circuit.failed(exc)
                reachable, after_id = False, None
        # Registered before the history is read: an event published meanwhile is then
        # both replayed and delivered live, and the subscription drops the second copy.
        subscription = Subscription(topics, after_id or known, self._backlog, tick_every)
        self._fanout.add(subscription)
        if after_id is not None and reachable:
            try:
                subscription.replay(await self._missed(subscription.topics, after_id))
            except UNAVAILABLE as exc:
                # Live events only: the history is out of reach for now.
                self._circuit.failed(exc)
            except BaseException:
                self._fanout.remove(subscription)
                raise
        return subscription

    async def _issued(self, after_id: str) -> str | None:
        """``after_id`` if the bus has issued it, else None ("nothing to replay").

        Asked only for an id past what this worker's reader has seen: another worker's
        event the reader has not reached yet is fine, but an id past the stream's end
        (forged, or from a Redis that was since emptied) would make the subscription
        drop every live event as "already seen".
        """
        newest: Any = await self._client.xrevrange(self._stream, count=1)
        end = _text(newest[0][0]) if newest else "0-0"
        return after_id if event_order(after_id) <= event_order(end) else None

    async def _missed(self, topics: Sequence[str], after_id: str) -> list[Event]:
        async with self._client.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.xrange(self._topic_key(topic), min=f"({after_id}", count=self._history)
            replies = await pipe.execute()
        missed: dict[str, Event] = {}
        for entries in replies:
            for raw_id, fields in entries:
                event_id = _text(raw_id)
                if event_id not in missed:
                    missed[event_id] = self._event(event_id, fields)
        return [missed[i] for i in sorted(missed, key=event_order)]

    @staticmethod
    def _event(event_id: str, fields: Mapping[bytes, bytes]) -> Event:
        wire = _decode(fields[b"e"])
        return Event(event_id, wire.name, wire.data, tuple(wire.topics))

    def unsubscribe(self, subscription: Subscription) -> None:
        self._fanout.remove(subscription)

    def subscribe(self, topics: Sequence[str], after_id: str | None = None) -> AsyncIterator[Event]:
        return iterate(self, topics, after_id)

    def subscriber_count(self) -> int:
        return len(self._fanout)

    def end_streams(self) -> None:
        self._fanout.end_all()

    async def _start_reader(self) -> bool:
        """Start following the global stream; False while Redis cannot be reached."""
        if self._reader is None:
            self._ready = asyncio.Event()
            self._reader = asyncio.create_task(self._read_forever(), name="event-bus-reader")
        assert self._ready is not None
        if self._ready.is_set():
            return not self._circuit.degraded
        if self._circuit.degraded:
            return False
        try:
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            return False
        return True

    async def _read_forever(self) -> None:
        assert self._ready is not None
        backoff = 0.1
        while not self._closing:
            try:
                if not self._ready.is_set():
                    # Start at the stream's end: subscribers want what comes next, and
                    # resuming clients get the rest from the topics' histories.
                    newest: Any = await self._client.xrevrange(self._stream, count=1)
                    self._position = _text(newest[0][0]) if newest else "0-0"
                    self._ready.set()
                replies: Any = await self._client.xread(
                    {self._stream: self._position}, count=READ_BATCH, block=READ_BLOCK_MS
                )
                backoff = 0.1
                self._circuit.succeeded()
            except UNAVAILABLE as exc:
                self._circuit.failed(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_RECONNECT_DELAY)
                continue
            except Exception:
                logger.exception("event bus reader failed; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_RECONNECT_DELAY)
                continue
            for _, entries in replies or ():
                for raw_id, fields in entries:
                    self._position = _text(raw_id)
                    try:
                        event = self._event(self._position, fields)
                    except (msgspec.DecodeError, KeyError):
                        logger.exception("skipping malformed event %s", self._position)
                        continue
                    self._fanout.deliver(event)

    async def close(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._fanout.close()
        await self._client.aclose()
