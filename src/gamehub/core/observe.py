"""Every request's id, access log line and metrics, measured once around the whole app.

It wraps Litestar's own ASGI handler (the router inside its exception handler), not a
route's middleware stack: Litestar runs middleware per route, after routing, so a 404, a
405 or a request refused before routing would pass unseen. Here every response, errors
rendered by the exception handlers (500, 503) included, gets its ``X-Request-ID``; an
event stream's headers pass through here too before its body leaves the stack
(:mod:`gamehub.realtime.asgi`).

The access line names the route by its template (``/user/{username}``) and never logs
the raw path or the query string: a callback's path carries the install's callback
secret, an EventSource URL its ticket.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Histogram

from gamehub.core import metrics
from gamehub.core.logs import enter_request, leave_request, request_id_from, write_line

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_BYTES = REQUEST_ID_HEADER.encode()
# The route of a request no route matched (a 404 or a 405): one label, however many paths.
UNMATCHED = "unmatched"

access = logging.getLogger("gamehub.access")

# Plain ASGI, as in gamehub.realtime.asgi (Litestar's aliases are per scope type).
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ObservedRequests:
    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        context, token = enter_request(request_id_from(_header(scope, _REQUEST_ID_BYTES)))
        header = (_REQUEST_ID_BYTES, context.request_id.encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = [h for h in message.get("headers", ()) if h[0].lower() != _REQUEST_ID_BYTES]
                message["headers"] = [*kept, header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or UNMATCHED
            method = scope["method"]
            latency, responses = _series(method, route, status)
            latency.observe(elapsed)
            responses.inc()
            if self.access_log:
                client = scope.get("client")
                fields = {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client[0] if client else None,
                }
                write_line(access, logging.INFO, "request", fields)
            leave_request(token)


@functools.lru_cache(maxsize=4096)
def _series(method: str, route: str, status: int) -> tuple[Histogram, Counter]:
    """A response's latency histogram and counter: looked up by their labels once, not on
    every request. Bounded, since a client names the method."""
    return (
        metrics.REQUEST_SECONDS.labels(method, route),
        metrics.RESPONSES.labels(method, route, str(status)),
    )


def _header(scope: Scope, name: bytes) -> str | None:
    headers: Any = scope.get("headers", ())
    for key, value in headers:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
