"""Both event buses: ordering, topics, resuming after an id, bounds, and the commit rule."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import redis.asyncio as redis

from gamehub.core.clock import ManualClock
from gamehub.core.events import (
    EventBus,
    LocalEventBus,
    Outgoing,
    Subscription,
    SubscriptionClosed,
    SubscriptionEnded,
    SubscriptionLost,
    event_order,
    parse_event_id,
    publish_after_commit,
    room_topic,
    user_topic,
)
from gamehub.core.redis_events import RedisEventBus
from gamehub.core.runtime import Runtime
from tests.conftest import REDIS_TEST_PREFIX, redis_client

MakeBus = Callable[..., EventBus]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["local", "redis"])
async def make_bus(
    request: pytest.FixtureRequest, redis_url: str | None, clock: ManualClock
) -> AsyncIterator[MakeBus]:
    """A factory of buses of one kind, closed after the test."""
    made: list[EventBus] = []

    def make(**options: int) -> EventBus:
        bus: EventBus
        if request.param == "local":
            bus = LocalEventBus(clock=clock, **options)
        else:
            if redis_url is None:
                pytest.skip("needs GAMEHUB_TEST_REDIS_URL")
            prefix = f"{REDIS_TEST_PREFIX}{uuid.uuid4().hex[:10]}:"
            bus = RedisEventBus(redis_client(redis_url), prefix, **options)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.close()


async def next_of(subscription: Subscription) -> tuple[str, str]:
    with anyio.fail_after(5):
        event = await subscription.get()
    return event.name, event.data["n"]


async def nothing_more(subscription: Subscription) -> bool:
    with anyio.move_on_after(0.2):
        await subscription.get()
        return False
    return True


async def test_subscribers_get_their_topics_once_and_in_order(make_bus: MakeBus) -> None:
    bus = make_bus()
    mine = await bus.open([user_topic(1), room_topic(7)])
    other = await bus.open([user_topic(2)])
    await bus.publish("a", {"n": "1"}, [user_topic(1)])
    await bus.publish("b", {"n": "2"}, [user_topic(2)])
    await bus.publish("c", {"n": "3"}, [user_topic(1), room_topic(7)])
    assert [await next_of(mine), await next_of(mine)] == [("a", "1"), ("c", "3")]
    assert await next_of(other) == ("b", "2")
    assert await nothing_more(mine)
    assert bus.subscriber_count() == 2
    bus.unsubscribe(mine)
    bus.unsubscribe(other)
    assert bus.subscriber_count() == 0


async def test_ids_increase_and_resume_replays_exactly_what_was_missed(make_bus: MakeBus) -> None:
    bus = make_bus()
    topic = user_topic(5)
    ids = [await bus.publish("e", {"n": str(i)}, [topic]) for i in range(5)]
    assert ids == sorted(ids, key=event_order)
    assert len(set(ids)) == 5
    # Someone else's events in between are not replayed.
    await bus.publish("x", {"n": "other"}, [user_topic(6)])

    resumed = await bus.open([topic], after_id=ids[1])
    assert [await next_of(resumed) for _ in range(3)] == [("e", "2"), ("e", "3"), ("e", "4")]
    await bus.publish("e", {"n": "5"}, [topic])
    assert await next_of(resumed) == ("e", "5")
    assert await nothing_more(resumed)
    assert resumed.position != ids[-1]


async def test_an_id_past_the_end_replays_nothing_and_then_everything_live(
    make_bus: MakeBus,
) -> None:
    bus = make_bus()
    topic = user_topic(11)
    issued = await bus.publish("e", {"n": "0"}, [topic])
    # Far in the future: taken literally, every live event would look already seen.
    resumed = await bus.open([topic], after_id="999999999999999-0")
    assert event_order(resumed.position) <= event_order(issued)
    assert await nothing_more(resumed)
    await bus.publish("e", {"n": "1"}, [topic])
    await bus.publish("e", {"n": "2"}, [topic])
    assert [await next_of(resumed), await next_of(resumed)] == [("e", "1"), ("e", "2")]


async def test_the_last_id_issued_is_a_resume_point_like_any_other(make_bus: MakeBus) -> None:
    bus = make_bus()
    topic = user_topic(12)
    last = await bus.publish("e", {"n": "0"}, [topic])
    resumed = await bus.open([topic], after_id=last)
    assert resumed.position == last
    assert await nothing_more(resumed)
    await bus.publish("e", {"n": "1"}, [topic])
    assert await next_of(resumed) == ("e", "1")


async def test_the_history_is_bounded(make_bus: MakeBus) -> None:
    bus = make_bus(history=3)
    topic = room_topic(3)
    first = await bus.publish("e", {"n": "0"}, [topic])
    for i in range(1, 6):
        await bus.publish("e", {"n": str(i)}, [topic])
    resumed = await bus.open([topic], after_id=first)
    assert [await next_of(resumed) for _ in range(3)] == [("e", "3"), ("e", "4"), ("e", "5")]
    assert await nothing_more(resumed)


async def test_an_idle_topic_forgets_its_history(make_bus: MakeBus, clock: ManualClock) -> None:
    bus = make_bus(history_ttl_seconds=60)
    first = await bus.publish("e", {"n": "0"}, [user_topic(8)])
    await bus.publish("e", {"n": "1"}, [user_topic(8)])
    # The in-process bus forgets idle topics as it publishes, by the runtime's clock;
    # Redis expires their streams by its own, after the time-to-live it was given.
    clock.advance(61)
    if isinstance(bus, RedisEventBus):
        key = bus._topic_key(user_topic(8))
        assert 0 < await bus._client.pttl(key) <= 60_000
        await bus._client.delete(key)
    await bus.publish("e", {"n": "x"}, [user_topic(9)])
    resumed = await bus.open([user_topic(8)], after_id=first)
    assert await nothing_more(resumed)


async def test_a_subscriber_that_stops_reading_is_cut_off(make_bus: MakeBus) -> None:
    bus = make_bus(backlog=3)
    slow = await bus.open([user_topic(9)])
    marker = await bus.open([user_topic(10)])
    for i in range(5):
        await bus.publish("e", {"n": str(i)}, [user_topic(9)])
    await bus.publish("marker", {"n": "m"}, [user_topic(10)])
    # Events reach a process's subscribers in the order they were published: once the
    # marker is here, the five were all offered to the one that read none of them.
    assert await next_of(marker) == ("marker", "m")
    with pytest.raises(SubscriptionLost):
        await slow.get()


async def test_the_iterator_form_unsubscribes_when_it_ends(make_bus: MakeBus) -> None:
    bus = make_bus()
    seen: list[str] = []

    async def read() -> None:
        async for event in bus.subscribe([user_topic(4)]):
            seen.append(event.name)
            if event.name == "stop":
                return

    async with anyio.create_task_group() as group:
        group.start_soon(read)
        with anyio.fail_after(5):
            while bus.subscriber_count() == 0:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        await bus.publish("go", {}, [user_topic(4)])
        await bus.publish("stop", {}, [user_topic(4)])
    assert seen == ["go", "stop"]
    with anyio.fail_after(5):
        while bus.subscriber_count():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def test_ending_the_streams_ends_every_subscription_and_each_one_opened_later(
    make_bus: MakeBus,
) -> None:
    bus = make_bus()
    waiting = await bus.open([user_topic(5)])
    queued = await bus.open([user_topic(5), room_topic(6)], tick_every=60)
    await bus.publish("e", {"n": "0"}, [user_topic(5)])

    async def wait_for_the_end() -> None:
        with pytest.raises(SubscriptionEnded):
            await waiting.get()

    async with anyio.create_task_group() as group:
        # The first one is read to its event; then its reader waits, and is woken.
        assert await next_of(waiting) == ("e", "0")
        group.start_soon(wait_for_the_end)
        await anyio.lowlevel.checkpoint()
        bus.end_streams()
    # What was still queued is not handed out: the client resumes it from the history.
    with anyio.fail_after(5), pytest.raises(SubscriptionEnded):
        await queued.get()
    late = await bus.open([user_topic(5)], after_id=None)
    with anyio.fail_after(5), pytest.raises(SubscriptionEnded):
        await late.get()


def test_only_well_formed_event_ids_are_resumed_from() -> None:
    assert parse_event_id(" 1700000000000-3 ") == "1700000000000-3"
    for bad in (None, "", "12", "a-1", "1-2-3", "1" * 20 + "-1"):
        assert parse_event_id(bad) is None


async def test_events_wait_for_the_commit_and_die_with_a_rollback(runtime: Runtime) -> None:
    subscription = await runtime.events.open([user_topic(11)])

    def started(room: int) -> dict[str, Any]:
        return {"game_id": room, "roulette_id": room, "seed_hash": "ab" * 32}

    async def fail() -> None:
        async with runtime.db.unit_of_work() as session:
            publish_after_commit(session, runtime.events, "game_started", started(1), users=[11])
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await fail()
    async with runtime.db.unit_of_work() as session:
        publish_after_commit(
            session, runtime.events, "game_started", started(2), users=[11], rooms=[2]
        )
        assert await nothing_more(subscription)
    with anyio.fail_after(5):
        kept = await subscription.get()
    assert (kept.name, kept.data) == ("game_started", started(2))
    assert await nothing_more(subscription)
    runtime.events.unsubscribe(subscription)


async def test_an_event_is_built_by_its_struct_before_it_is_queued(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(ValueError, match="no event"):
            publish_after_commit(session, runtime.events, "no_such_event", {}, users=[11])
        with pytest.raises(ValueError, match="does not fit"):
            publish_after_commit(
                session, runtime.events, "transaction_update", {"balance": 1}, users=[11]
            )


async def test_closing_a_subscription_ends_its_waiting_reader(make_bus: MakeBus) -> None:
    bus = make_bus()
    subscription = await bus.open([user_topic(5)])
    reader = asyncio.create_task(subscription.get())
    # The reader is waiting for an event when its subscription is closed.
    await asyncio.sleep(0.01)
    assert not reader.done()
    subscription.close()
    with pytest.raises(SubscriptionClosed):
        await asyncio.wait_for(reader, 5)
    # Nothing reaches it afterwards, nor makes it raise anything else.
    await bus.publish("late", {"n": "1"}, [user_topic(5)])
    with pytest.raises(SubscriptionClosed):
        await subscription.get()
    bus.unsubscribe(subscription)


async def test_many_events_published_at_once_arrive_as_if_published_one_by_one(
    make_bus: MakeBus,
) -> None:
    bus = make_bus()
    mine = await bus.open([user_topic(1)])
    ids = await bus.publish_many(
        [
            Outgoing("a", {"n": "1"}, [user_topic(1)]),
            Outgoing("b", {"n": "2"}, [user_topic(2)]),
            Outgoing("c", {"n": "3"}, [user_topic(1), user_topic(1)]),
        ]
    )
    assert len(ids) == 3
    assert ids == sorted(ids, key=event_order)
    assert [await next_of(mine), await next_of(mine)] == [("a", "1"), ("c", "3")]
    resumed = await bus.open([user_topic(1)], after_id=ids[0])
    assert await next_of(resumed) == ("c", "3")
    assert await bus.publish_many([]) == []


async def test_events_published_at_once_while_redis_is_unreachable_reach_this_worker() -> None:
    # Nothing listens on port 1: every connection is refused at once.
    bus = RedisEventBus(redis.Redis(host="127.0.0.1", port=1), f"{REDIS_TEST_PREFIX}gone:")
    try:
        mine = await bus.open([user_topic(1)])
        ids = await bus.publish_many(
            [Outgoing("a", {"n": "1"}, [user_topic(1)]), Outgoing("b", {"n": "2"}, [user_topic(1)])]
        )
        assert ids == sorted(ids, key=event_order)
        assert [await next_of(mine), await next_of(mine)] == [("a", "1"), ("b", "2")]
    finally:
        await bus.close()
