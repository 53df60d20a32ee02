"""The bench's users and rooms, and the multi-step flows measured with our own driver:
a whole 2-player Russian Roulette game, and a deposit with its STK callback."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import select

from bench.driver import Connection, HttpError, Latencies
from bench.measure import Sample, percentile
from gamehub import models
from gamehub.core.db import Database
from gamehub.wallet.service import WalletService

PASSWORD = "Bench-run-Password-41x!"
PHONE = "254708374149"
# Whole KES; the simulator reads the last two digits: 92 sends the callback twice.
DEPOSIT_AMOUNT = 100
DUPLICATE_DEPOSIT_AMOUNT = 192
# One deposit in this many has its callback delivered twice.
DUPLICATE_EVERY = 5
SETTLE_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    token: str


async def register_users(port: int, names: list[str], connections: int = 16) -> dict[str, User]:
    """Register ``names`` through the API, ``connections`` at a time."""
    pending = list(names)
    users: dict[str, User] = {}

    async def worker() -> None:
        connection = Connection("127.0.0.1", port)
        try:
            while pending:
                name = pending.pop()
                body = await connection.request(
                    "POST",
                    "/register",
                    {"username": name, "password": PASSWORD, "dob": "1990-01-01"},
                )
                users[name] = User(body["id"], name, body["access_token"])
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return users


async def fund(database_url: str, names: list[str], amount_minor: int, currency: str) -> None:
    """Credit every wallet through the ledger, as ``gamehub wallet adjust`` does."""
    database = Database(database_url)
    try:
        for name in names:
            async with database.unit_of_work() as session:
                user_id = await session.scalar(
                    select(models.User.id).where(models.User.username_key == name.lower())
                )
                assert user_id is not None
                await WalletService(session, currency).adjust(
                    user_id, amount_minor, reason="bench funding", actor="bench"
                )
    finally:
        await database.dispose()


async def open_rooms(port: int, pairs: list[tuple[User, User]], stake: Decimal) -> list[int]:
    """One full 2-player room per pair, each at its own stake (so that each pair has a
    lobby of its own); the rooms are playing and nobody has pulled yet."""
    connection = Connection("127.0.0.1", port)
    rooms = []
    try:
        for i, (first, second) in enumerate(pairs):
            body = {"stake": str(stake + Decimal(i) / 100), "max_players": 2}
            joined = await connection.request("POST", "/games/join", body, first.token)
            again = await connection.request("POST", "/games/join", body, second.token)
            if again["roulette_id"] != joined["roulette_id"] or again["status"] != "playing":
                raise RuntimeError(f"pair {i} did not share a room: {joined} {again}")
            rooms.append(joined["roulette_id"])
    finally:
        await connection.close()
    return rooms


Flow = Callable[[Connection, Callable[[], bool], list[float]], Awaitable[None]]


async def _drive(
    port: int,
    connections: int,
    seconds: float,
    flow_for: Callable[[int], Flow],
    cpu: Callable[[], float],
) -> tuple[Latencies, list[float], float, float, float]:
    """Run one flow per connection for ``seconds``; each finishes what it started.
    Returns the request latencies, the completion times (seconds from the start) of
    the flows' units of work, the window, and the server's and our CPU in it."""
    latencies = Latencies()
    completions: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    cpu_before, own_before = cpu(), time.process_time()
    conns = [Connection("127.0.0.1", port, latencies) for _ in range(connections)]

    def running() -> bool:
        return time.perf_counter() < deadline

    async def one(i: int) -> None:
        try:
            await flow_for(i)(conns[i], running, completions)
        finally:
            await conns[i].close()

    tasks = [asyncio.create_task(one(i)) for i in range(connections)]
    await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
    latencies.recording = False
    server_cpu, own_cpu = cpu() - cpu_before, time.process_time() - own_before
    await asyncio.gather(*tasks)
    return latencies, [c - started for c in completions], seconds, server_cpu, own_cpu


def _sample(
    count: int,
    seconds: float,
    latencies: Latencies,
    errors: int,
    server_cpu: float,
    own_cpu: float,
) -> Sample:
    ms = latencies.ms
    return Sample(
        count=count,
        seconds=seconds,
        p50_ms=percentile(ms, 50) if ms else None,
        p99_ms=percentile(ms, 99) if ms else None,
        errors=errors,
        server_cpu_s=server_cpu,
        generator_cpu_s=own_cpu,
    )


async def roulette_games(
    port: int,
    players: list[User],
    connections: int,
    seconds: float,
    stake: Decimal,
    cpu: Callable[[], float],
) -> Sample:
    """Whole 2-player games: join, join, pulls until someone is hit. Connection i plays
    players 2i and 2i+1 at a stake of its own (its own lobby, so that the pair always
    meets), sending each request with the token of the player whose move it is."""
    by_id = {u.id: u for u in players}

    def flow_for(i: int) -> Flow:
        first, second = players[2 * i], players[2 * i + 1]
        body = {"stake": str(stake + Decimal(i) / 100), "max_players": 2}

        async def flow(conn: Connection, running: Callable[[], bool], done: list[float]) -> None:
            while running():
                try:
                    joined = await conn.request("POST", "/games/join", body, first.token)
                    await conn.request("POST", "/games/join", body, second.token)
                    room = {"roulette_id": joined["roulette_id"]}
                    shooter = first
                    while True:
                        pulled = await conn.request(
                            "POST", "/games/pull-trigger", room, shooter.token
                        )
                        if pulled["game_over"]:
                            break
                        shooter = by_id[pulled["next_player"]]
                except HttpError:
                    # Counted as an error; a room left half-played is the games job's.
                    await asyncio.sleep(0.05)
                    continue
                done.append(time.perf_counter())

        return flow

    latencies, completions, window, server_cpu, own_cpu = await _drive(
        port, connections, seconds, flow_for, cpu
    )
    games = sum(1 for c in completions if c <= window)
    return _sample(games, window, latencies, latencies.errors, server_cpu, own_cpu)


async def deposits(
    port: int,
    sim_port: int,
    users: list[User],
    connections: int,
    seconds: float,
    database_dsn: str,
    cpu: Callable[[], float],
) -> Sample:
    """POST /deposit in a loop on every connection; the simulator answers each STK push
    at once and sends its callback (one in five twice). The round lasts until every
    deposit made in the window is settled, since the callback, its STK query and the
    credit are the server's work too; a deposit that does not end completed is an error."""
    made: list[int] = []
    counter = 0
    causes: Counter[str] = Counter()

    def flow_for(i: int) -> Flow:
        async def flow(conn: Connection, running: Callable[[], bool], done: list[float]) -> None:
            nonlocal counter
            n = i
            while running():
                counter += 1
                amount = (
                    DUPLICATE_DEPOSIT_AMOUNT if counter % DUPLICATE_EVERY == 0 else DEPOSIT_AMOUNT
                )
                user = users[n % len(users)]
                n += connections
                try:
                    answer = await conn.request(
                        "POST", "/deposit", {"amount": amount, "phone": PHONE}, user.token
                    )
                except HttpError as exc:
                    causes[f"POST /deposit {exc.status}: {exc.body[:120]!r}"] += 1
                    await asyncio.sleep(0.05)
                    continue
                made.append(answer["deposit_id"])
                done.append(time.perf_counter())

        return flow

    seen = await _callbacks_after(sim_port, 0)
    last_callback = max((c["id"] for c in seen), default=0)
    started = time.perf_counter()
    cpu_before, own_before = cpu(), time.process_time()
    latencies, completions, window, _, _ = await _drive(
        port, connections, seconds, flow_for, lambda: 0.0
    )
    ids = [d for d, c in zip(made, completions, strict=True) if c <= window]
    database = await asyncpg.connect(database_dsn)
    try:
        give_up = time.perf_counter() + SETTLE_TIMEOUT
        while True:
            pending = await database.fetchval(
                "SELECT count(*) FROM deposits WHERE id = ANY($1::bigint[]) AND status = 'pending'",
                ids,
            )
            if pending == 0 or time.perf_counter() > give_up:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        server_cpu, own_cpu = cpu() - cpu_before, time.process_time() - own_before
        completed = await database.fetchval(
            "SELECT count(*) FROM deposits WHERE id = ANY($1::bigint[]) AND status = 'completed'",
            ids,
        )
    finally:
        await database.close()
    # The simulator keeps its last 500 callbacks: enough for a round at today's rates.
    failed = [
        c
        for c in await _callbacks_after(sim_port, last_callback)
        if c["state"] == "failed" or (c["state"] == "delivered" and c["status_code"] != 200)
    ]
    causes.update(f"callback {c['state']} {c['status_code']}: {c['error']}" for c in failed)
    if len(ids) > completed:
        causes[f"not completed within {SETTLE_TIMEOUT:g} s"] += len(ids) - completed
    for cause, count in causes.most_common(5):
        print(f"   {count} x {cause}", flush=True)
    errors = latencies.errors + (len(ids) - completed) + len(failed)
    return _sample(len(ids), elapsed, latencies, errors, server_cpu, own_cpu)


async def _callbacks_after(sim_port: int, after_id: int) -> list[dict[str, Any]]:
    """The simulator's log of the callbacks it sent, newer than ``after_id``."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{sim_port}/simulator/callbacks")
        response.raise_for_status()
        log: list[dict[str, Any]] = response.json()
    return [c for c in log if c["id"] > after_id]


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    token: str | None = None
    body: dict[str, Any] | None = None


async def saturated(
    port: int,
    calls: list[Call],
    connections: int,
    seconds: float,
    cpu: Callable[[], float],
    unique_username: bool = False,
) -> Sample:
    """A closed loop of ``calls`` on every connection, for routes slower than a round
    (a login can take seconds under load): the window opens once every connection has
    had its first answer, so that it measures the steady state and not the filling of
    the pipeline, and then lasts ``seconds``. With ``unique_username``, each body's
    username gets a suffix no other request has (registrations)."""
    latencies = Latencies(recording=False)
    answered: set[int] = set()
    everyone = asyncio.Event()
    stop = asyncio.Event()
    tag = uuid.uuid4().hex[:8]
    sequence = itertools.count()

    async def loop(i: int) -> None:
        connection = Connection("127.0.0.1", port, latencies)
        n = i
        try:
            while not stop.is_set():
                call = calls[n % len(calls)]
                n += connections
                body = call.body
                if unique_username and body is not None:
                    body = {**body, "username": f"{body['username']}{tag}{next(sequence)}"}
                try:
                    await connection.request(call.method, call.path, body, call.token)
                except HttpError:
                    await asyncio.sleep(0.05)
                answered.add(i)
                if len(answered) == connections:
                    everyone.set()
        finally:
            await connection.close()

    tasks = [asyncio.create_task(loop(i)) for i in range(connections)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(everyone.wait(), SETTLE_TIMEOUT)
    latencies.recording = True
    cpu_before, own_before = cpu(), time.process_time()
    await asyncio.sleep(seconds)
    latencies.recording = False
    server_cpu, own_cpu = cpu() - cpu_before, time.process_time() - own_before
    count = len(latencies.ms)
    stop.set()
    await asyncio.gather(*tasks)
    return _sample(count, seconds, latencies, latencies.errors, server_cpu, own_cpu)
