"""Helpers for payment tests against the real API process and the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from gamehub.core.db import Database
from gamehub.wallet.service import adjust_wallet
from gamehub.wallet.verify import verify_ledger
from tests.support.api import PASSWORD, unique_name

PHONE = "0708374149"
GAMEHUB = Path(sys.executable).parent / "gamehub"


@dataclass
class Player:
    username: str
    user_id: int
    headers: dict[str, str]


async def new_player(http: httpx.AsyncClient) -> Player:
    username = unique_name()
    response = await http.post("/register", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    return Player(username, body["id"], {"Authorization": f"Bearer {body['access_token']}"})


@asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


async def fund(url: str, username: str, amount_minor: int) -> None:
    async with database(url) as db, db.unit_of_work() as session:
        await adjust_wallet(
            session,
            username=username,
            amount_minor=amount_minor,
            currency="KES",
            reason="test funds",
            actor="tests",
        )


async def assert_ledger_ok(url: str) -> None:
    async with database(url) as db, db.unit_of_work() as session:
        report = await verify_ledger(session)
    assert report.ok, report.problems


async def balance(http: httpx.AsyncClient, player: Player) -> float:
    response = await http.get("/wallet", headers=player.headers)
    value: float = response.json()["balance"]
    return value


async def wait_for_status(
    http: httpx.AsyncClient, path: str, player: Player, wanted: set[str], within: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        body: dict[str, Any] = (await http.get(path, headers=player.headers)).json()
        if body["status"] in wanted:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} stayed {body['status']}, wanted {wanted}")
        await anyio.sleep(0.1)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GAMEHUB), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
