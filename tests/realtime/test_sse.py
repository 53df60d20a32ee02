"""The SSE routes in-process: who may connect, what they hear, resuming, and the caps."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from gamehub.core.events import event_order, room_topic, user_topic
from gamehub.core.runtime import Runtime
from tests.support.api import bearer, register
from tests.support.apps import Served, served
from tests.support.sse import AsgiStream
from tests.wallet.support import fund

Client = httpx.AsyncClient


@pytest.fixture
async def quick(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    """The app with a fast heartbeat and two streams per user."""
    async with served(
        database_url, redis_url, sse_heartbeat_seconds=0.3, sse_max_connections_per_user=2
    ) as running:
        yield running


async def account(client: Client) -> tuple[int, dict[str, str]]:
    body = await register(client)
    return body["id"], bearer(body["access_token"])


async def test_a_player_hears_their_own_events_with_ids_and_names(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    me, headers = await account(client)
    other, _ = await account(client)
    async with AsgiStream(app, "/events/connect", headers) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        connected = await stream.next_event()
        assert connected.event == "connected"
        assert connected.id is not None
        assert connected.retry == 3000
        assert connected.json()["topics"] == [user_topic(me)]
        await runtime.events.publish("bet_update", {"bet_id": 1}, [user_topic(other)])
        sent = await runtime.events.publish("bet_update", {"bet_id": 2}, [user_topic(me)])
        event = await stream.next_named("bet_update")
        assert (event.id, event.json()) == (sent, {"bet_id": 2})
    assert runtime.events.subscriber_count() == 0


async def test_get_events_is_the_same_stream(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    _, headers = await account(client)
    async with AsgiStream(app, "/events", headers) as stream:
        assert (await stream.next_event()).event == "connected"


async def test_no_credentials_no_stream(app: Litestar, client: Client) -> None:
    async with AsgiStream(app, "/events/connect") as stream:
        assert stream.status == 401
        assert stream.json()["error"] == "AuthenticationRequired"
    async with AsgiStream(app, "/events/connect", bearer("not-a-token")) as stream:
        assert stream.status == 401


async def test_a_ticket_stands_in_for_the_header_once(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    me, headers = await account(client)
    assert (await client.post("/events/ticket")).status_code == 401
    issued = await client.post("/events/ticket", headers=headers)
    assert issued.status_code == 201
    ticket = issued.json()["ticket"]
    assert issued.json()["expires_in"] == runtime.settings.sse_ticket_ttl_seconds
    async with AsgiStream(app, f"/events/connect?ticket={ticket}") as stream:
        assert stream.status == 200
        assert (await stream.next_event()).json()["topics"] == [user_topic(me)]
    async with AsgiStream(app, f"/events/connect?ticket={ticket}") as again:
        assert again.status == 401
        assert "ticket" in again.json()["detail"]


async def test_reconnecting_with_last_event_id_replays_exactly_what_was_missed(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    me, headers = await account(client)
    topic = user_topic(me)
    async with AsgiStream(app, "/events/connect", headers) as stream:
        await stream.next_named("connected")
        await runtime.events.publish("bet_update", {"n": 1}, [topic])
        seen = await stream.next_named("bet_update")
    missed = [await runtime.events.publish("bet_update", {"n": n}, [topic]) for n in (2, 3)]
    resume = {**headers, "Last-Event-ID": str(seen.id)}
    async with AsgiStream(app, "/events/connect", resume) as stream:
        connected = await stream.next_event()
        assert connected.id == seen.id
        assert connected.json()["resumed_from"] == seen.id
        replayed = [await stream.next_named("bet_update") for _ in missed]
        assert [e.id for e in replayed] == missed
        assert [e.json()["n"] for e in replayed] == [2, 3]
        live = await runtime.events.publish("game_status", {"n": 4}, [topic])
        assert (await stream.next_named("bet_update", "game_status")).id == live


async def test_heartbeats_keep_the_stream_position(quick: Served) -> None:
    app, client, runtime = quick.app, quick.client, quick.runtime
    me, headers = await account(client)
    async with AsgiStream(app, "/events/connect", headers) as stream:
        connected = await stream.next_event()
        beat = await stream.next_named("heartbeat")
        assert beat.id == connected.id
        assert "time" in beat.json()
        sent = await runtime.events.publish("bet_update", {}, [user_topic(me)])
        await stream.next_named("bet_update")
        assert (await stream.next_named("heartbeat")).id == sent


async def test_streams_per_user_are_capped_and_a_gone_client_frees_its_slot(
    quick: Served,
) -> None:
    app, client, runtime = quick.app, quick.client, quick.runtime
    _, headers = await account(client)
    _, other_headers = await account(client)
    first = AsgiStream(app, "/events/connect", headers)
    async with first, AsgiStream(app, "/events/connect", headers) as second:
        await first.next_event()
        await second.next_event()
        async with AsgiStream(app, "/events/connect", headers) as third:
            assert third.status == 429
            assert "Retry-After".lower() in third.headers
        # The cap is per user.
        async with AsgiStream(app, "/events/connect", other_headers) as theirs:
            assert theirs.status == 200
        await first.hang_up()
        assert runtime.events.subscriber_count() == 1
        async with AsgiStream(app, "/events/connect", headers) as replacement:
            assert replacement.status == 200
            assert (await replacement.next_event()).event == "connected"
    assert runtime.events.subscriber_count() == 0


async def test_anyone_may_watch_a_room_and_hears_only_that_room(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    async with AsgiStream(app, "/games/roulette/999999/events") as missing:
        assert missing.status == 404
    body = await register(client)
    await fund(runtime, body["username"], 100_000)
    joined = await client.post(
        "/games/join",
        headers=bearer(body["access_token"]),
        json={"stake": 50, "max_players": 2},
    )
    assert joined.status_code == 200, joined.text
    room_id = joined.json()["roulette_id"]
    async with AsgiStream(app, f"/games/roulette/{room_id}/events") as watcher:
        assert watcher.status == 200
        assert (await watcher.next_event()).json()["topics"] == [room_topic(room_id)]
        await runtime.events.publish("bet_placed", {"room": "other"}, [room_topic(room_id + 1)])
        sent = await runtime.events.publish("bet_placed", {"room": "this"}, [room_topic(room_id)])
        event = await watcher.next_named("bet_placed")
        assert (event.id, event.json()) == (sent, {"room": "this"})


async def test_a_bogus_last_event_id_is_ignored(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    me, headers = await account(client)
    await runtime.events.publish("bet_update", {}, [user_topic(me)])
    async with AsgiStream(app, "/events/connect", {**headers, "Last-Event-ID": "nope"}) as s:
        connected = await s.next_event()
        assert connected.json()["resumed_from"] is None
        sent = await runtime.events.publish("bet_update", {"n": 1}, [user_topic(me)])
        event = await s.next_named("bet_update")
        assert event.id == sent
        assert event_order(str(event.id)) > event_order(str(connected.id))


async def test_anonymous_watchers_are_capped_per_address_and_per_worker(
    database_url: str, redis_url: str | None
) -> None:
    async with served(
        database_url,
        redis_url,
        trusted_proxies=["127.0.0.1"],
        sse_max_watchers_per_address=2,
        sse_max_streams_per_worker=3,
    ) as running:
        app, client, runtime = running.app, running.client, running.runtime
        body = await register(client)
        await fund(runtime, body["username"], 100_000)
        joined = await client.post(
            "/games/join", headers=bearer(body["access_token"]), json={"stake": 50}
        )
        path = f"/games/roulette/{joined.json()['roulette_id']}/events"

        def watcher(address: str) -> AsgiStream:
            return AsgiStream(app, path, {"X-Forwarded-For": address})

        first, second = watcher("203.0.113.1"), watcher("203.0.113.1")
        async with first, second:
            assert (first.status, second.status) == (200, 200)
            await first.next_event()
            await second.next_event()
            async with watcher("203.0.113.1") as third:
                assert third.status == 429
                assert third.json()["error"] == "TooManyStreams"
                assert "retry-after" in third.headers
            async with watcher("198.51.100.2") as elsewhere:
                assert elsewhere.status == 200
                await elsewhere.next_event()
                # Three streams: the worker takes no more watchers, from any address.
                async with watcher("198.51.100.3") as turned_away:
                    assert turned_away.status == 503
                    assert turned_away.json()["error"] == "WorkerBusy"
                    assert "retry-after" in turned_away.headers
            await first.hang_up()
            async with watcher("203.0.113.1") as again:
                assert again.status == 200
                assert (await again.next_event()).event == "connected"
        assert runtime.events.subscriber_count() == 0
