"""A small HTTP/1.1 keep-alive client on asyncio streams, for the flows wrk cannot
drive (a request that depends on the last one's answer) and for the set-up.

It is deliberately minimal, because the load generator shares the cores with the
server: requests are formatted by hand, responses are read by Content-Length (or
chunks), and the only JSON decoded is the bodies a flow needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any


class HttpError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


@dataclass
class Latencies:
    """Request latencies and failures, gathered while a window is open."""

    recording: bool = True
    ms: list[float] = field(default_factory=list)
    errors: int = 0


class Connection:
    def __init__(self, host: str, port: int, latencies: Latencies | None = None) -> None:
        self.host = host
        self.port = port
        self.latencies = latencies or Latencies(recording=False)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send one request; the decoded JSON body of a 2xx answer, else HttpError."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        if token is not None:
            head.append(f"Authorization: Bearer {token}")
        if body is not None:
            head.append("Content-Type: application/json")
        head.append(f"Content-Length: {len(payload)}")
        head.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        started = time.perf_counter()
        try:
            reader, writer = await self._open()
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            status, data = await _read_response(reader)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            await self.close()
            self._count(started, ok=False)
            raise HttpError(0, str(exc).encode()) from exc
        self._count(started, ok=200 <= status < 300)
        if not 200 <= status < 300:
            raise HttpError(status, data)
        return json.loads(data) if data else None

    def _count(self, started: float, *, ok: bool) -> None:
        if self.latencies.recording:
            self.latencies.ms.append((time.perf_counter() - started) * 1000)
            if not ok:
                self.latencies.errors += 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return status, await reader.readexactly(length or 0)
