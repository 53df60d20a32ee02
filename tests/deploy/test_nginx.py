"""deploy/nginx.conf, as shipped, with Debian's nginx in front of two ``gamehub serve``
processes sharing one database and Redis: both answer, an event streams through as it
happens, and the API sees the client's address as nginx saw it, never a forged one.

Clients connect from addresses of their own on the loopback network (127.0.0.2, .3), so
that nginx (127.0.0.1, the one trusted proxy) and each client are told apart.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest

from gamehub.core.db import Database
from gamehub.wallet.service import WalletService
from tests.deploy.nginx import Nginx, running_nginx
from tests.deploy.support import require_binary
from tests.support.api import ADULT_DOB, PASSWORD, unique_name
from tests.support.server import running_server
from tests.support.sse import WAIT_SECONDS, SseEvent, http_events
from tests.wallet.support import user_id_named

IP_FAILURE_LIMIT = 3


@dataclass(frozen=True)
class Deployment:
    nginx: Nginx
    api_urls: tuple[str, str]
    database_url: str

    def client(self, address: str, *, direct_to: str | None = None) -> httpx.AsyncClient:
        """A client connecting from ``address``, to nginx or straight to an API process."""
        return httpx.AsyncClient(
            base_url=direct_to or self.nginx.https_url,
            transport=httpx.AsyncHTTPTransport(
                local_address=address,
                verify=ssl.create_default_context(cafile=self.nginx.certificate),
            ),
            timeout=httpx.Timeout(10, read=None),
        )


@pytest.fixture(scope="module")
def deployment(database_url: str, redis_url: str | None) -> Iterator[Deployment]:
    nginx = require_binary("nginx", "nginx")
    if redis_url is None:
        pytest.skip("needs GAMEHUB_TEST_REDIS_URL: several API processes share Redis")
    env = {
        "GAMEHUB_DATABASE_URL": database_url,
        "GAMEHUB_REDIS_URL": redis_url,
        "GAMEHUB_REDIS_PREFIX": f"gamehub-test:{unique_name('nginx')}:",
        "GAMEHUB_JWT_SECRET": "behind-nginx-test-secret-" + "n" * 32,
        "GAMEHUB_TRUSTED_PROXIES": "127.0.0.1",
        "GAMEHUB_IP_FAILURE_LIMIT": str(IP_FAILURE_LIMIT),
        "GAMEHUB_ARGON2_TIME_COST": "1",
        "GAMEHUB_ARGON2_MEMORY_KIB": "64",
        "GAMEHUB_ARGON2_PARALLELISM": "1",
        # No heartbeat within a test: the event under test is the next thing on the stream.
        "GAMEHUB_SSE_HEARTBEAT_SECONDS": "300",
        "GAMEHUB_GAME_JOBS_INTERVAL_SECONDS": "0",
    }
    servers = [running_server(env, workers=1) for _ in range(2)]
    with ExitStack() as stack:
        # Started side by side: on a loaded machine each takes a good part of a minute.
        with ThreadPoolExecutor(len(servers)) as pool:
            starting = [pool.submit(server.__enter__) for server in servers]
            for server, started in zip(servers, starting, strict=True):
                if started.exception() is None:  # a started one is stopped whatever follows
                    stack.push(server)
        first, second = (started.result() for started in starting)
        upstreams = [url.removeprefix("http://") for url in (first, second)]
        proxy = stack.enter_context(running_nginx(nginx, upstreams))
        yield Deployment(proxy, (first, second), database_url)


async def test_both_api_processes_answer_through_nginx(deployment: Deployment) -> None:
    async with deployment.client("127.0.0.2") as client:
        workers = {(await client.get("/health")).json()["worker"] for _ in range(10)}
    assert len(workers) == 2


async def test_plain_http_is_redirected_to_tls(deployment: Deployment) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{deployment.nginx.http_url}/health")
    assert answer.status_code == 301
    assert answer.headers["location"] == "https://127.0.0.1/health"


async def _fund(database_url: str, username: str, amount_minor: int) -> None:
    database = Database(database_url)
    try:
        async with database.unit_of_work() as session:
            user_id = await user_id_named(session, username)
            await WalletService(session, "KES").adjust(
                user_id, amount_minor, reason="test", actor="tests"
            )
    finally:
        await database.dispose()


async def test_an_event_streams_through_nginx_while_the_stream_stays_open(
    deployment: Deployment,
) -> None:
    name = unique_name()
    async with deployment.client("127.0.0.2") as player, deployment.client("127.0.0.2") as other:
        registered = await player.post(
            "/register", json={"username": name, "password": PASSWORD, "dob": ADULT_DOB}
        )
        me = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        await _fund(deployment.database_url, name, 100_000)
        events: asyncio.Queue[SseEvent] = asyncio.Queue()

        async def listen() -> None:
            async with player.stream("GET", "/events/connect", headers=me) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                async for event in http_events(response):
                    events.put_nowait(event)

        listening = asyncio.create_task(listen())
        try:
            connected = await asyncio.wait_for(events.get(), WAIT_SECONDS)
            assert connected.event == "connected"
            spin = await other.post("/games/spin-and-win/play", headers=me, json={"bet_amount": 10})
            assert spin.status_code == 200, spin.text
            heard = await asyncio.wait_for(events.get(), WAIT_SECONDS)
            while heard.event != "bet_update":
                heard = await asyncio.wait_for(events.get(), WAIT_SECONDS)
            assert heard.json()["bet_id"] == spin.json()["bet_id"]
            # Delivered while the response goes on: not held back until it ended.
            assert not listening.done()
        finally:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)


async def _fail_login(client: httpx.AsyncClient, forged: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forged} if forged else {}
    body = {"username": unique_name(), "password": "not-the-password"}
    return await client.post("/login", json=body, headers=headers)


async def test_the_api_counts_failures_against_the_address_nginx_saw(
    deployment: Deployment,
) -> None:
    async with (
        deployment.client("127.0.0.2") as near,
        deployment.client("127.0.0.3") as elsewhere,
        deployment.client("127.0.0.3", direct_to=deployment.api_urls[0]) as bypassing,
    ):
        # Each attempt claims another address; nginx replaces the claim with the real one.
        for attempt in range(IP_FAILURE_LIMIT):
            answer = await _fail_login(near, forged=f"203.0.113.{attempt + 1}")
            assert answer.status_code == 401, answer.text
        blocked = await _fail_login(near, forged="198.51.100.1")
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "AddressLocked"
        # Another client behind the same nginx is not caught by that address's ceiling.
        assert (await _fail_login(elsewhere)).status_code == 401
        # Straight to an API process, not from the proxy: the header claiming the blocked
        # address is ignored, and the failure counts against the real peer.
        assert (await _fail_login(bypassing, forged="127.0.0.2")).status_code == 401
