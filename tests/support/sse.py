"""Reading Server-Sent Events in tests: from the app in-process, or over real HTTP.

httpx's ASGITransport waits for the whole response body, which an event stream never
ends; :class:`AsgiStream` drives the ASGI app itself and can hang up like a browser.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from litestar import Litestar

from tests.support.asgi import http_scope

WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str | None
    data: str
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class SseParser:
    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, chunk: str) -> list[SseEvent]:
        self._buffer += chunk.replace("\r\n", "\n")
        events = []
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            fields: dict[str, list[str]] = {}
            for line in block.split("\n"):
                if not line or line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value.removeprefix(" "))
            if fields:
                retry = fields.get("retry")
                events.append(
                    SseEvent(
                        id=fields.get("id", [None])[-1],
                        event=fields.get("event", [None])[-1],
                        data="\n".join(fields.get("data", [])),
                        retry=int(retry[-1]) if retry else None,
                    )
                )
        return events


# The app itself, or the app as ``gamehub serve`` wraps it.
AsgiApp = Litestar | Callable[..., Awaitable[None]]


class AsgiStream:
    """``async with AsgiStream(app, "/events", headers) as stream`` opens a GET; leaving
    the block hangs up and waits until the app has finished with the request."""

    def __init__(self, app: AsgiApp, path: str, headers: dict[str, str] | None = None) -> None:
        self.app = app
        path, _, query = path.partition("?")
        self.scope = http_scope("GET", path, headers, query)
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        self._started = asyncio.Event()
        self._finished = asyncio.Event()
        self._gone = asyncio.Event()
        self._asked = False
        self._events: asyncio.Queue[SseEvent] = asyncio.Queue()
        self._parser = SseParser()
        self._task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            self._started.set()
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            self.body += body
            if self.status == 200:
                for event in self._parser.feed(body.decode()):
                    self._events.put_nowait(event)
            if not message.get("more_body", False):
                self._finished.set()

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self._receive, self._send)  # type: ignore[arg-type]
        finally:
            self._finished.set()

    async def __aenter__(self) -> AsgiStream:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._started.wait(), WAIT_SECONDS)
        if self.status != 200:
            await asyncio.wait_for(self._finished.wait(), WAIT_SECONDS)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.hang_up()

    async def hang_up(self) -> None:
        self._gone.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, WAIT_SECONDS)

    async def next_event(self) -> SseEvent:
        return await asyncio.wait_for(self._events.get(), WAIT_SECONDS)

    async def next_named(self, *names: str) -> SseEvent:
        """The next event with one of ``names``, skipping heartbeats and others."""
        while True:
            event = await self.next_event()
            if event.event in names:
                return event

    async def wait_ended(self) -> None:
        """Until the app ends the response itself (the client has not hung up)."""
        await asyncio.wait_for(self._finished.wait(), WAIT_SECONDS)

    @property
    def ended(self) -> bool:
        return self._finished.is_set()

    def json(self) -> Any:
        return json.loads(self.body)


async def http_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """The events of a streamed httpx response, as they arrive."""
    parser = SseParser()
    async for chunk in response.aiter_text():
        for event in parser.feed(chunk):
            yield event
