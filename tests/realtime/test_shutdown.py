"""A worker that stops ends its event streams with a hint to come back, not an error.

The server-level behaviour (SIGTERM, the exit within 5 s) is in tests/test_lifecycle.py;
here the app's part: what a stream sends once the worker has begun to stop.
"""

from __future__ import annotations

from litestar import Litestar

from gamehub.core.events import user_topic
from gamehub.core.runtime import Runtime
from gamehub.realtime.service import SHUTDOWN_RETRY_MS
from tests.support.api import Client, bearer, register
from tests.support.sse import AsgiStream, SseEvent


def _is_a_retry_hint(event: SseEvent) -> bool:
    """A message of only ``retry:``: EventSource dispatches nothing and reconnects then."""
    low, high = SHUTDOWN_RETRY_MS
    return (event.id, event.event, event.data) == (None, None, "") and (
        event.retry is not None and low <= event.retry <= high
    )


async def test_a_stopping_worker_ends_each_stream_with_a_retry_hint(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    headers = bearer(account["access_token"])
    async with (
        AsgiStream(app, "/events/connect", headers) as first,
        AsgiStream(app, "/events/connect", headers) as second,
    ):
        for stream in (first, second):
            assert (await stream.next_event()).event == "connected"
        sent = await runtime.events.publish("bet_update", {"n": 1}, [user_topic(account["id"])])
        assert (await first.next_named("bet_update")).id == sent

        runtime.events.end_streams()

        for stream in (first, second):
            while (event := await stream.next_event()).event is not None:
                # Only what was already on its way comes before the hint.
                assert event.event == "bet_update"
            assert _is_a_retry_hint(event)
            await stream.wait_ended()


async def test_a_stream_asked_for_while_the_worker_stops_is_sent_on_its_way(
    app: Litestar, client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    runtime.events.end_streams()
    async with AsgiStream(app, "/events/connect", bearer(account["access_token"])) as late:
        assert (await late.next_event()).event == "connected"
        assert _is_a_retry_hint(await late.next_event())
        await late.wait_ended()
    # Its connection slot went back with it: no holder is left under the user's key.
    assert await runtime.cache.claim_slot(f"sse:connections:{account['id']}", "probe", 1, 1)
