"""``gamehub serve --workers 2`` with Redis: the workers share lockouts and revocations.

Two keep-alive clients are pinned to different workers (each asks /health which worker
answered), so that every check below crosses from one worker to the other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from gamehub.core.db import Database
from gamehub.wallet.service import WalletService
from gamehub.wallet.verify import verify_ledger
from tests.support.api import ADULT_DOB, PASSWORD, unique_name
from tests.support.server import running_server
from tests.wallet.support import user_id_named


@pytest.fixture(scope="module")
def server(database_url: str, redis_url: str | None) -> Iterator[str]:
    if redis_url is None:
        pytest.skip("needs GAMEHUB_TEST_REDIS_URL: several workers require Redis")
    env = {
        "GAMEHUB_DATABASE_URL": database_url,
        "GAMEHUB_REDIS_URL": redis_url,
        "GAMEHUB_REDIS_PREFIX": f"gamehub-test:{unique_name('workers')}:",
        "GAMEHUB_JWT_SECRET": "multi-worker-test-secret-" + "y" * 32,
        "GAMEHUB_LOCKOUT_THRESHOLD": "3",
        "GAMEHUB_IP_FAILURE_LIMIT": "8",
        # Behind "our proxy" each test can speak for an address of its own.
        "GAMEHUB_TRUSTED_PROXIES": "127.0.0.1",
        "GAMEHUB_ARGON2_TIME_COST": "1",
        "GAMEHUB_ARGON2_MEMORY_KIB": "64",
        "GAMEHUB_ARGON2_PARALLELISM": "1",
        # Short turns, so that both workers' turn clocks race for the same overdue turns.
        "GAMEHUB_ROULETTE_TURN_SECONDS": "1",
        "GAMEHUB_GAME_JOBS_INTERVAL_SECONDS": "0.1",
    }
    with running_server(env, workers=2) as base_url:
        yield base_url


def _worker(client: httpx.Client) -> int:
    return int(client.get("/health").json()["worker"])


@pytest.fixture
def pinned(server: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two keep-alive clients whose connections ended up on different workers."""
    first = httpx.Client(base_url=server, timeout=10)
    first_worker = _worker(first)
    spare: list[httpx.Client] = []
    try:
        for _ in range(100):
            second = httpx.Client(base_url=server, timeout=10)
            if _worker(second) != first_worker:
                break
            spare.append(second)
        else:
            pytest.fail("100 connections all reached the same worker")
        assert _worker(first) == first_worker  # still the same connection
        yield first, second
        second.close()
    finally:
        first.close()
        for client in spare:
            client.close()


def test_a_logout_on_one_worker_is_honoured_by_the_other(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    one, other = pinned
    account = one.post("/register", json={"username": unique_name(), "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {account['access_token']}"}
    assert other.get("/me", headers=headers).status_code == 200
    assert one.post("/logout", headers=headers).status_code == 200
    assert other.get("/me", headers=headers).status_code == 401
    refresh = other.post("/token/refresh", json={"refresh_token": account["refresh_token"]})
    assert refresh.status_code == 401


def test_lockout_counts_failures_made_on_either_worker(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    one, other = pinned
    name = unique_name()
    one.post("/register", json={"username": name, "password": PASSWORD})
    wrong = {"username": name, "password": "wrong-pass"}
    codes = [c.post("/login", json=wrong).status_code for c in (one, other, one)]
    assert codes == [401, 401, 401]
    locked = other.post("/login", json={"username": name, "password": PASSWORD})
    assert locked.status_code == 429


def test_the_per_address_ceiling_is_shared(pinned: tuple[httpx.Client, httpx.Client]) -> None:
    one, other = pinned
    forwarded = {"X-Forwarded-For": "203.0.113.7, 127.0.0.1"}
    for index in range(8):
        client = one if index % 2 else other
        body = {"username": unique_name(), "password": "nope-nope"}
        assert client.post("/login", json=body, headers=forwarded).status_code == 401
    body = {"username": unique_name(), "password": "nope-nope"}
    blocked = one.post("/login", json=body, headers=forwarded)
    assert blocked.status_code == 429
    assert "address" in blocked.json()["detail"]
    # Another client address is not caught by this one's ceiling.
    elsewhere = other.post("/login", json=body, headers={"X-Forwarded-For": "198.51.100.9"})
    assert elsewhere.status_code == 401


def test_overdue_turns_are_pulled_once_whichever_worker_notices(
    pinned: tuple[httpx.Client, httpx.Client], database_url: str
) -> None:
    one, other = pinned
    players = []
    for client in (one, other):
        account = client.post(
            "/register",
            json={"username": unique_name(), "password": PASSWORD, "dob": ADULT_DOB},
        ).json()
        asyncio.run(_fund(database_url, account["username"], 10_000))
        players.append((client, {"Authorization": f"Bearer {account['access_token']}"}))
    room_id = None
    for client, headers in players:
        joined = client.post("/games/join", headers=headers, json={"stake": 20})
        assert joined.status_code == 200, joined.text
        room_id = joined.json()["roulette_id"]
    deadline = time.monotonic() + 30
    while True:
        room = one.get(f"/games/roulette/{room_id}").json()
        if room["status"] != "playing" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert room["status"] == "finished"
    # Every chamber up to the bullet was pulled exactly once, by the clocks alone.
    assert room["chambers_pulled"] == room["bullet_chamber"]
    balances = sorted(c.get("/wallet", headers=h).json()["balance"] for c, h in players)
    assert balances == [80, 80 + 38]
    assert asyncio.run(_ledger_problems(database_url)) == []


async def _fund(database_url: str, username: str, amount_minor: int) -> None:
    database = Database(database_url)
    try:
        async with database.unit_of_work() as session:
            await WalletService(session, "KES").adjust(
                await user_id_named(session, username),
                amount_minor,
                reason="test funds",
                actor="tests",
            )
    finally:
        await database.dispose()


async def _ledger_problems(database_url: str) -> list[str]:
    database = Database(database_url)
    try:
        async with database.unit_of_work() as session:
            return (await verify_ledger(session)).problems
    finally:
        await database.dispose()
