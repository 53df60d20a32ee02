"""The app as ``gamehub serve`` runs it: event streams outside the middleware stack, and
a garbage collector tuned for thousands of them.

An SSE stream lives for minutes, and for all that time everything its request passed
through stays alive with it: Litestar's middleware and routing coroutines, their
closures, the ``Request`` and its headers and state, a dozen coroutines and some
ninety objects per stream in all. A full garbage collection traverses every one of
them (and finds nothing to free): with 5,000 streams open those collections took
0.1 to 1 s, and every broadcast waiting behind one was late by as much. So
:class:`StreamHandoff` lets an event-stream response (see
:class:`gamehub.realtime.service.EventStreamResponse`) leave the stack once its
headers are sent: Litestar hands the body back under the :data:`HANDOFF` scope key,
its per-request objects are dropped, and the body is streamed from here with the
server's own ``send`` and ``receive``. Served without this wrapper (tests, other
servers), the response streams in place as any other.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from typing import Any

# Plain ASGI, lifespan included (Litestar's own aliases leave lifespan scopes out).
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The scope key an event-stream response leaves its body under.
HANDOFF = "gamehub.stream_handoff"

# The young generation's threshold (CPython's default is 700). A broadcast to
# thousands of streams has thousands of futures and frames in flight at once; with
# collections every 700 allocations many of them are caught alive, promoted, and
# counted towards the next full collection. Collected less often, most are freed by
# their reference counts first.
YOUNG_THRESHOLD = 20_000

Body = Callable[[Send, Receive], Awaitable[None]]


class StreamHandoff:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _settle_after_startup(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Copies (of the scope and of its per-request state, where Litestar keeps its
        # parsed headers and more), so that all of it goes when Litestar is done.
        inner = {**scope, HANDOFF: None}
        if "state" in scope:
            inner["state"] = dict(scope["state"])
        await self.app(inner, receive, send)
        body: Body | None = inner[HANDOFF]
        del inner
        if body is not None:
            await body(send, receive)


def _settle_after_startup(send: Send) -> Send:
    async def forward(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            settle_heap()
        await send(message)

    return forward


def settle_heap() -> None:
    """Once the app has started: what exists now (modules, the app, its pools) lives as
    long as the process, so the collector stops traversing it (``gc.freeze``), and the
    young generation is collected less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
