"""The app as ``gamehub serve`` runs it: an event stream leaves Litestar's stack once its
headers are out, and the collector is settled after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from gamehub.core.events import user_topic
from gamehub.core.runtime import Runtime
from gamehub.realtime.asgi import YOUNG_THRESHOLD, StreamHandoff
from tests.support.api import bearer, register
from tests.support.sse import AsgiStream


async def test_a_handed_off_stream_behaves_as_in_place_and_keeps_nothing_of_litestar(
    app: Litestar, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    stream = AsgiStream(StreamHandoff(app), "/events/connect", headers)
    server_scope_keys = set(stream.scope)
    async with stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        connected = await stream.next_event()
        assert connected.event == "connected"
        sent = await runtime.events.publish("bet_update", {"n": 1}, [user_topic(account["id"])])
        heard = await stream.next_named("bet_update")
        assert (heard.id, heard.json()) == (sent, {"n": 1})
        # Litestar worked on a copy: the scope the server holds for the stream's whole
        # life carries none of its per-request objects.
        assert set(stream.scope) == server_scope_keys
        assert runtime.events.subscriber_count() == 1
    # Hanging up ends the stream and gives its slot back.
    assert runtime.events.subscriber_count() == 0
    async with AsgiStream(StreamHandoff(app), "/events/connect") as refused:
        assert refused.status == 401


async def test_a_refused_stream_is_answered_in_full_through_the_wrapper(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    async with AsgiStream(StreamHandoff(app), "/games/roulette/999999/events") as missing:
        assert missing.status == 404
        assert missing.ended


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


async def test_start_up_freezes_what_it_made_and_collects_the_young_less_often(
    collector: None,
) -> None:
    sent: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        assert gc.get_freeze_count() == 0
        await send({"type": "lifespan.startup.complete"})

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    gc.unfreeze()
    await StreamHandoff(app)({"type": "lifespan"}, receive, send)
    assert sent == [{"type": "lifespan.startup.complete"}]
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
