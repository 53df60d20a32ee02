"""Helpers for payment tests against the real API process and the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx

from gamehub.app import create_app
from gamehub.composition import start_runtime
from gamehub.core.clock import SystemClock
from gamehub.core.db import Database
from gamehub.core.mpesa.client import DarajaClient
from gamehub.core.runtime import Runtime
from gamehub.models import Base
from gamehub.models.protection import PhoneProof
from gamehub.protection.phones import Phones
from gamehub.settings import Settings
from gamehub.wallet.service import WalletService
from gamehub.wallet.verify import verify_ledger
from tests.payments.conftest import PaymentsApi, RunningSimulator
from tests.support.api import ADULT_DOB, PASSWORD, unique_name
from tests.wallet.support import user_id_named

Row = TypeVar("Row", bound=Base)

PHONE = "0708374149"


def unique_phone() -> str:
    """A Safaricom-shaped number no other test uses: one account per phone number."""
    return f"07{uuid.uuid4().int % 10**8:08d}"


GAMEHUB = Path(sys.executable).parent / "gamehub"


@dataclass
class Player:
    username: str
    user_id: int
    headers: dict[str, str]


async def new_player(http: httpx.AsyncClient) -> Player:
    username = unique_name()
    response = await http.post(
        "/register", json={"username": username, "password": PASSWORD, "dob": ADULT_DOB}
    )
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
    """Credit the player, as an operator's adjustment, and verify PHONE as theirs, as an
    operator would: withdrawals go only to numbers the account has proved."""
    async with database(url) as db, db.unit_of_work() as session:
        user_id = await user_id_named(session, username)
        await WalletService(session, "KES").adjust(
            user_id, amount_minor, reason="test funds", actor="tests"
        )
        await Phones(session, Settings(database_url=url), SystemClock()).prove(
            user_id, PHONE, PhoneProof.OPERATOR
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


def settings_of(api: PaymentsApi, **overrides: Any) -> Settings:
    """The API server's own settings (it reads the same environment)."""
    values: dict[str, Any] = {
        name.removeprefix("GAMEHUB_").lower(): value for name, value in api.env.items()
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def provider_runtime(api: PaymentsApi) -> AsyncIterator[Runtime]:
    """A runtime like the one ``gamehub payments reconcile`` builds, to run its rounds with
    an injected clock."""
    runtime = await start_runtime(settings_of(api))
    try:
        yield runtime
    finally:
        await runtime.close()


class WorkerKilled(Exception):
    """Stands for the process dying: raised at the one point a test chooses."""


@dataclass
class Worker:
    client: httpx.AsyncClient
    runtime: Runtime


@asynccontextmanager
async def dying_worker(
    api: PaymentsApi,
    simulator: RunningSimulator,
    *,
    dies_after: str | None = None,
    dies_before: str | None = None,
    callback_base_url: str | None = None,
) -> AsyncIterator[Worker]:
    """Another API worker on the same database, whose M-Pesa calls run for real until the
    one to ``dies_after`` (M-Pesa has accepted it) or ``dies_before`` (it is never sent):
    there the worker dies, leaving exactly what it had committed, as a killed process does.
    """

    async def after(response: httpx.Response) -> None:
        # Only once M-Pesa has taken the request (a stale token's refusal is retried).
        if response.request.url.path == dies_after and response.status_code == 200:
            await response.aread()
            raise WorkerKilled(dies_after)

    async def before(request: httpx.Request) -> None:
        if request.url.path == dies_before:
            raise WorkerKilled(dies_before)

    overrides = {} if callback_base_url is None else {"mpesa_callback_base_url": callback_base_url}
    application = create_app(settings_of(api, **overrides))
    async with (
        application.lifespan(),
        httpx.AsyncClient(event_hooks={"request": [before], "response": [after]}) as http,
    ):
        runtime: Runtime = application.state.runtime
        assert runtime.mpesa is not None
        await runtime.mpesa.aclose()
        runtime.mpesa = DarajaClient(simulator.daraja_config(), http=http)
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url="http://worker.test") as client:
            yield Worker(client, runtime)


async def row(url: str, model: type[Row], row_id: int) -> Row:
    async with database(url) as db, db.unit_of_work() as session:
        found = await session.get(model, row_id)
    assert found is not None
    return found


async def sim_requests(
    http: httpx.AsyncClient, simulator: RunningSimulator, path: str, **fields: object
) -> list[dict[str, Any]]:
    """The requests to ``path`` that the simulator accepted, whose body has these values
    (one refused for a stale access token and then retried is not a second payment)."""
    return [
        r
        for r in await simulator.requests(http)
        if r["path"] == path
        and r["status"] == 200
        and all(isinstance(r["body"], dict) and r["body"].get(k) == v for k, v in fields.items())
    ]
