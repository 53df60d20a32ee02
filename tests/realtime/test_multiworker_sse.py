"""``gamehub serve --workers 2`` with Redis: events cross workers, and resuming replays.

A player's stream is held on one worker while the event is caused through the other;
a control stream that never disconnects records everything, so that the replay after a
reconnect can be compared with exactly what was missed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.support.api import PASSWORD, unique_name
from tests.support.server import GAMEHUB, running_server
from tests.support.sse import WAIT_SECONDS, SseEvent, http_events

STREAM_TIMEOUT = httpx.Timeout(10, read=None)


@pytest.fixture(scope="module")
def env(database_url: str, redis_url: str | None) -> dict[str, str]:
    if redis_url is None:
        pytest.skip("needs GAMEHUB_TEST_REDIS_URL: several workers require Redis")
    return {
        "GAMEHUB_DATABASE_URL": database_url,
        "GAMEHUB_REDIS_URL": redis_url,
        "GAMEHUB_REDIS_PREFIX": f"gamehub-test:{unique_name('sse')}:",
        "GAMEHUB_JWT_SECRET": "sse-multi-worker-secret-" + "s" * 32,
        "GAMEHUB_ARGON2_TIME_COST": "1",
        "GAMEHUB_ARGON2_MEMORY_KIB": "64",
        "GAMEHUB_ARGON2_PARALLELISM": "1",
        "GAMEHUB_SSE_HEARTBEAT_SECONDS": "1",
    }


@pytest.fixture(scope="module")
def server(env: dict[str, str]) -> Iterator[str]:
    with running_server(env, workers=2) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def game_server_key(env: dict[str, str], server: str) -> str:
    """Made with the CLI, as an operator would; it also registers the games it ends."""
    done = subprocess.run(
        [
            str(GAMEHUB),
            "service",
            "create",
            unique_name("gs"),
            "--scopes",
            "game-server,matchmaking",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split("key: ", 1)[1].strip()


async def _worker(client: httpx.AsyncClient) -> int:
    return int((await client.get("/health")).json()["worker"])


@asynccontextmanager
async def pinned(
    server: str, avoid: int | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    """A keep-alive client whose connection reached a worker other than ``avoid``."""
    spare: list[httpx.AsyncClient] = []
    try:
        for _ in range(100):
            client = httpx.AsyncClient(base_url=server, timeout=STREAM_TIMEOUT)
            worker = await _worker(client)
            if worker != avoid:
                break
            spare.append(client)
        else:
            pytest.fail("100 connections all reached the same worker")
        try:
            yield client, worker
        finally:
            await client.aclose()
    finally:
        for client in spare:
            await client.aclose()


class Listener:
    """One SSE connection read in the background; hanging up closes its socket."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.events: asyncio.Queue[SseEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._read())
        assert (await self.next()).event == "connected"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self) -> None:
        async with self.client.stream("GET", "/events/connect", headers=self.headers) as response:
            assert response.status_code == 200
            async for event in http_events(response):
                self.events.put_nowait(event)

    async def next(self) -> SseEvent:
        return await asyncio.wait_for(self.events.get(), WAIT_SECONDS)

    async def ended(self) -> None:
        """Until the server closes the response."""
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), WAIT_SECONDS)

    async def take(self, count: int) -> list[SseEvent]:
        """The next ``count`` events that are not heartbeats."""
        taken: list[SseEvent] = []
        while len(taken) < count:
            event = await self.next()
            if event.event != "heartbeat":
                taken.append(event)
        return taken


async def test_events_cross_workers_and_a_reconnect_replays_exactly_the_missed_ones(
    server: str, game_server_key: str
) -> None:
    service = {"X-Service-Key": game_server_key}
    async with pinned(server) as (near, near_worker), pinned(server, near_worker) as (far, _):
        registered = await far.post(
            "/register", json={"username": unique_name(), "password": PASSWORD}
        )
        player = registered.json()
        me = {"Authorization": f"Bearer {player['access_token']}"}
        games = [unique_name(f"g{n}") for n in range(1, 5)]
        # Registered before anyone listens: the events under test are the games' ends.
        for game in games:
            registered_game = await far.post(
                "/update",
                headers=service,
                json={"game_id": game, "num_players": 1, "players": [player["id"]]},
            )
            assert registered_game.status_code == 200, registered_game.text

        async def terminate(game: str) -> None:
            response = await far.post(
                "/terminate",
                headers=service,
                json={
                    "game_id": game,
                    "results": [{"user_id": player["id"], "outcome": "win", "earnings": 5}],
                },
            )
            assert response.status_code == 200, response.text

        control_client = httpx.AsyncClient(base_url=server, timeout=STREAM_TIMEOUT)
        async with control_client, Listener(control_client, me) as control:
            # Held on one worker; the event is caused through the other.
            async with Listener(near, me) as stream:
                await terminate(games[0])
                heard = await stream.take(2)
                assert [e.event for e in heard] == ["game_result", "leaderboard_update"]
                assert [e.id for e in heard] == [e.id for e in await control.take(2)]
                last_seen = heard[-1].id

            await terminate(games[1])
            await terminate(games[2])
            missed = await control.take(4)
            assert [e.event for e in missed] == ["game_result", "leaderboard_update"] * 2

            async with pinned(server, near_worker) as (other, _):
                resumed = Listener(other, {**me, "Last-Event-ID": str(last_seen)})
                async with resumed:
                    replayed = await resumed.take(4)
                    assert [(e.id, e.event, e.data) for e in replayed] == [
                        (e.id, e.event, e.data) for e in missed
                    ]
                    # Nothing else was replayed: the next event is a new one.
                    await terminate(games[3])
                    fresh = (await resumed.take(1))[0]
                    assert fresh.event == "game_result"
                    assert fresh.id == (await control.take(1))[0].id


async def test_a_logout_on_one_worker_ends_the_stream_held_by_the_other(server: str) -> None:
    async with pinned(server) as (near, near_worker), pinned(server, near_worker) as (far, _):
        registered = await far.post(
            "/register", json={"username": unique_name(), "password": PASSWORD}
        )
        me = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        stream = Listener(near, me)
        async with stream:
            assert (await far.post("/logout", headers=me)).status_code == 200
            closed = (await stream.take(1))[0]
            assert (closed.event, closed.json()) == ("stream_closed", {"reason": "logout"})
            # The worker ended the response itself.
            await stream.ended()
