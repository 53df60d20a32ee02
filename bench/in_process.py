"""The CPU one request costs inside the app, without sockets: the ASGI app called
directly, a few lanes of requests at a time, ``time.process_time()`` per request.

What it isolates is our code's share of a request (routing, the identity check, the
statement, the access line, the metrics), with PostgreSQL and Redis as the server uses
them but no HTTP server, no client and no other process on the same clock. Compare two
commits, or a route with ``/healthz``, in interleaved runs; the absolute figures are
this machine's.

    python -m bench in_process [--path /profile] [--requests 4000] [--lanes 8] [--rounds 3]

It recreates its own database (``GAMEHUB_BENCH_DATABASE`` with ``_in_process``
appended, on ``GAMEHUB_BENCH_POSTGRES``), registers one player through the API, calls
the route with the player's token, and deletes its Redis keys afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import httpx
import uvloop
from tests.support.asgi import http_scope

from bench import procs
from bench.harness import _delete_keys
from gamehub import migrate
from gamehub.app import create_app
from gamehub.settings import RATE_LIMIT_DEFAULTS, Settings

PASSWORD = "correct horse battery staple"


async def _measure(settings: Settings, path: str, requests: int, lanes: int, rounds: int) -> None:
    app: Any = create_app(settings)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan", "state": {}}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"the app did not start: {started}")
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            name = f"b{uuid.uuid4().hex[:12]}"
            registered = await client.post(
                "/register", json={"username": name, "password": PASSWORD, "dob": "1990-01-01"}
            )
            registered.raise_for_status()
            token = registered.json()["access_token"]
        headers = {"authorization": f"Bearer {token}"}

        async def call() -> int:
            scope = http_scope("GET", path, headers)
            received = False
            statuses: list[int] = []

            async def receive() -> dict[str, Any]:
                nonlocal received
                if received:
                    await asyncio.Event().wait()  # the client never disconnects
                received = True
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await app(scope, receive, send)
            return statuses[0]

        async def lane(count: int) -> None:
            for _ in range(count):
                status = await call()
                if status != 200:
                    raise SystemExit(f"GET {path} answered {status}")

        await asyncio.gather(*(lane(200 // lanes + 1) for _ in range(lanes)))  # warm-up
        figures = []
        for _ in range(rounds):
            began = time.process_time()
            await asyncio.gather(*(lane(requests // lanes) for _ in range(lanes)))
            figures.append((time.process_time() - began) / (requests // lanes * lanes) * 1e6)
        rendered = ", ".join(f"{figure:.0f}" for figure in figures)
        print(f"GET {path}: {statistics.median(figures):.0f} µs of CPU a request ({rendered})")
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench in_process", description=__doc__)
    parser.add_argument("--path", default="/profile")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    server = os.environ.get("GAMEHUB_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    database = os.environ.get("GAMEHUB_BENCH_DATABASE", "gamehub_bench") + "_in_process"
    redis_url = os.environ.get("GAMEHUB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"gamehub-bench-in-process:{uuid.uuid4().hex[:8]}:"
    asyncio.run(procs.recreate_database(server, database))
    url = f"{server.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{database}"
    migrate.upgrade(url)
    settings = Settings(
        database_url=url,
        redis_url=redis_url,
        redis_prefix=prefix,
        log_format="json",
        # Counted, as on the server, but never reached.
        rate_limits={name: "100000/second" for name in RATE_LIMIT_DEFAULTS},
    )
    try:
        uvloop.run(_measure(settings, args.path, args.requests, args.lanes, args.rounds))
    finally:
        _delete_keys(redis_url, prefix)
