"""SSE fan-out: N clients watch one roulette room on one worker; how long does a
broadcast take to reach them?

Everything runs on loopback: a scratch SQLite database with one room, ``gamehub serve
--workers 1`` with Redis (the production path: publish -> Redis stream -> the
worker's reader -> every subscriber), and N raw-socket SSE clients in this process.
Each broadcast is published to the room through Redis, stamped with the wall clock;
each client stamps its arrival the moment the bytes are read. Latency is arrival
minus publish, over every client and broadcast. A baseline with few clients runs
first, and both are printed side by side.

    python -m bench sse_fanout [--clients 5000] [--baseline 100] [--broadcasts 20]

``run(clients, broadcasts)`` does the same and returns the figures as a dict, for a
harness that tabulates several benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis.asyncio as redis

from gamehub import migrate
from gamehub.core.db import Database
from gamehub.core.events import room_topic
from gamehub.core.redis_events import RedisEventBus
from gamehub.games import fairness
from gamehub.models import RouletteRoom

GAMEHUB = Path(sys.executable).parent / "gamehub"
CONNECT_BATCH = 250
WAIT_SECONDS = 60.0


class Tally:
    """How many clients have each broadcast; wakes the publisher when all have it."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.counts: dict[int, int] = {}
        self.complete: dict[int, asyncio.Event] = {}

    def expect(self, seq: int) -> asyncio.Event:
        self.counts[seq] = 0
        self.complete[seq] = asyncio.Event()
        return self.complete[seq]

    def arrived(self, seq: int) -> None:
        self.counts[seq] += 1
        if self.counts[seq] == self.clients:
            self.complete[seq].set()


SEQ_LINE = b'data: {"seq":'


class Client(asyncio.Protocol):
    """One EventSource-like connection; stamps each broadcast's line as it is read.

    It shares the two cores with the server, so it does as little as it can per read:
    the broadcast's number is cut out of its data line rather than decoded as JSON.
    """

    def __init__(self, path: str, tally: Tally) -> None:
        self.path = path
        self.tally = tally
        self.arrivals: dict[int, int] = {}
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        request = f"GET {self.path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
        transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.startswith(SEQ_LINE):
                seq = int(line[len(SEQ_LINE) : line.index(b",", len(SEQ_LINE))])
                self.arrivals[seq] = now
                self.tally.arrived(seq)
            elif line.startswith(b"event: connected") and not self.connected.done():
                self.connected.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError("closed before connecting"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


@dataclass
class Result:
    clients: int
    broadcasts: int
    connect_seconds: float
    latencies_ms: list[float]
    # Per broadcast: when the last client had it.
    completions_ms: list[float]
    # The server's resident memory before the clients connected and with them all
    # connected, after the broadcasts (their buffers included).
    rss_before_mib: float
    rss_mib: float

    @property
    def bytes_per_connection(self) -> float:
        return (self.rss_mib - self.rss_before_mib) * 1024 * 1024 / self.clients

    def figures(self) -> dict[str, float]:
        return {
            "clients": self.clients,
            "broadcasts": self.broadcasts,
            "connect_seconds": self.connect_seconds,
            "p50_ms": percentile(self.latencies_ms, 50),
            "p99_ms": percentile(self.latencies_ms, 99),
            "max_ms": max(self.latencies_ms),
            "last_delivery_p50_ms": percentile(self.completions_ms, 50),
            "last_delivery_p99_ms": percentile(self.completions_ms, 99),
            "rss_mib": self.rss_mib,
            "bytes_per_connection": self.bytes_per_connection,
        }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _server_rss_mib(pid: int) -> float:
    """Resident memory of the server and its worker processes."""
    total_kib = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total_kib += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        pending.extend(int(c) for c in children)
    return total_kib / 1024


async def _make_room(database_url: str) -> int:
    # Alembic runs its own event loop.
    await asyncio.to_thread(migrate.upgrade, database_url)
    database = Database(database_url)
    try:
        async with database.unit_of_work() as session:
            seed = fairness.new_server_seed()
            room = RouletteRoom(
                status="waiting",
                currency="KES",
                stake=1_000,
                max_players=2,
                seed=seed,
                seed_hash=fairness.seed_hash(seed),
                chambers_pulled=0,
                rake=0,
                rake_bps=500,
            )
            session.add(room)
            await session.flush()
            return room.id
    finally:
        await database.dispose()


@contextlib.contextmanager
def _server(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [str(GAMEHUB), "serve", "--port", str(port), "--workers", "1"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own process group: granian's worker must go down with it.
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


async def _measure(
    port: int, room_id: int, bus: RedisEventBus, clients: int, broadcasts: int, pid: int
) -> Result:
    loop = asyncio.get_running_loop()
    path = f"/games/roulette/{room_id}/events"
    opened: list[Client] = []
    tally = Tally(clients)
    rss_before = _server_rss_mib(pid)
    started = time.monotonic()
    try:
        for first in range(0, clients, CONNECT_BATCH):
            batch = []
            for _ in range(min(CONNECT_BATCH, clients - first)):
                _, client = await loop.create_connection(
                    lambda: Client(path, tally), "127.0.0.1", port
                )
                batch.append(client)
            opened.extend(batch)
            await asyncio.wait_for(asyncio.gather(*(c.connected for c in batch)), WAIT_SECONDS)
        connect_seconds = time.monotonic() - started
        await asyncio.sleep(1.0)
        # The clients' own process holds thousands of connections too: its full
        # collections (0.2 - 0.4 s with 5,000) would delay reads and be counted
        # against the server.
        gc.collect()
        gc.freeze()

        sent: dict[int, int] = {}
        for seq in range(broadcasts):
            everyone = tally.expect(seq)
            sent[seq] = time.time_ns()
            await bus.publish("bench", {"seq": seq, "pad": "x" * 64}, [room_topic(room_id)])
            try:
                await asyncio.wait_for(everyone.wait(), WAIT_SECONDS)
            except TimeoutError as exc:
                missing = clients - tally.counts[seq]
                raise RuntimeError(f"broadcast {seq} never reached {missing} clients") from exc
            await asyncio.sleep(0.1)
        rss = _server_rss_mib(pid)
        latencies = [(c.arrivals[s] - sent[s]) / 1e6 for c in opened for s in sent]
        completions = [(max(c.arrivals[s] for c in opened) - sent[s]) / 1e6 for s in sent]
        return Result(clients, broadcasts, connect_seconds, latencies, completions, rss_before, rss)
    finally:
        gc.unfreeze()
        for client in opened:
            client.close()
        await asyncio.sleep(0.5)


def _report(results: list[Result]) -> None:
    rows = [
        ("clients", lambda r: f"{r.clients}"),
        ("broadcasts", lambda r: f"{r.broadcasts}"),
        ("deliveries", lambda r: f"{len(r.latencies_ms)}"),
        ("connect all (s)", lambda r: f"{r.connect_seconds:.2f}"),
        ("server RSS (MiB)", lambda r: f"{r.rss_mib:.0f}"),
        ("bytes per connection", lambda r: f"{r.bytes_per_connection:.0f}"),
        ("latency p50 (ms)", lambda r: f"{percentile(r.latencies_ms, 50):.2f}"),
        ("latency p99 (ms)", lambda r: f"{percentile(r.latencies_ms, 99):.2f}"),
        ("latency max (ms)", lambda r: f"{max(r.latencies_ms):.2f}"),
        ("last client p50 (ms)", lambda r: f"{percentile(r.completions_ms, 50):.2f}"),
        ("last client p99 (ms)", lambda r: f"{percentile(r.completions_ms, 99):.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, cell in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{cell(r):>10}" for r in results))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _raise_file_limit(clients: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = clients + 512
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(f"need {needed} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def measure(clients: int, baseline: int, broadcasts: int, redis_url: str) -> list[Result]:
    """The baseline's result, then the clients' one, from one server."""
    _raise_file_limit(clients)
    prefix = f"gamehub-bench:{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_url)
    try:
        await client.ping()
    except redis.ConnectionError as exc:
        raise SystemExit(
            f"sse_fanout needs Redis at {redis_url} (GAMEHUB_BENCH_REDIS_URL)"
        ) from exc
    bus = RedisEventBus(client, prefix)
    with tempfile.TemporaryDirectory() as scratch:
        database_url = f"sqlite+aiosqlite:///{scratch}/bench.db"
        room_id = await _make_room(database_url)
        port = _free_port()
        env = {
            "GAMEHUB_DATABASE_URL": database_url,
            "GAMEHUB_REDIS_URL": redis_url,
            "GAMEHUB_REDIS_PREFIX": prefix,
            # Heartbeats would only add noise to the measurement.
            "GAMEHUB_SSE_HEARTBEAT_SECONDS": "300",
            # Every client watches from one address, on one worker.
            "GAMEHUB_SSE_MAX_WATCHERS_PER_ADDRESS": str(clients),
            "GAMEHUB_SSE_MAX_STREAMS_PER_WORKER": str(clients),
            "GAMEHUB_LEADERBOARD_SNAPSHOT_INTERVAL_SECONDS": "0",
        }
        with _server(env, port) as server:
            results = []
            for count in (baseline, clients):
                print(f"measuring {count} clients ...", flush=True)
                results.append(await _measure(port, room_id, bus, count, broadcasts, server.pid))
    keys = [k async for k in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await bus.close()
    return results


def _redis_url() -> str:
    return os.environ.get("GAMEHUB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def run(
    clients: int, broadcasts: int, *, baseline: int = 100, redis_url: str | None = None
) -> dict[str, float]:
    """Measure ``clients`` (after a ``baseline``-client run in the same server): the
    clients' figures under their own names, the baseline's prefixed ``baseline_``.

    Latencies are publish to delivery in milliseconds: ``p50_ms`` and ``p99_ms`` over
    every (client, broadcast) pair, ``last_delivery_*`` over broadcasts, each to the
    last client it reached. ``bytes_per_connection`` is the growth of the server's
    resident memory while the clients connected and were sent the broadcasts, divided
    by their number.
    """
    baseline = min(baseline, clients)
    first, measured = asyncio.run(measure(clients, baseline, broadcasts, redis_url or _redis_url()))
    return {
        **measured.figures(),
        **{f"baseline_{name}": value for name, value in first.figures().items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench sse_fanout", description=__doc__)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--broadcasts", type=int, default=20)
    parser.add_argument(
        "--redis-url",
        default=_redis_url(),
    )
    args = parser.parse_args(argv)
    if not 0 < args.baseline <= args.clients <= 20_000 or not 0 < args.broadcasts <= 1000:
        parser.error("need 0 < baseline <= clients <= 20000 and 0 < broadcasts <= 1000")
    results = asyncio.run(measure(args.clients, args.baseline, args.broadcasts, args.redis_url))
    _report(results)
