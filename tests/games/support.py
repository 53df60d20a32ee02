"""Players with money, for game tests; and the shims of the tests that count a spin's
statements on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from gamehub.core.runtime import Runtime
from gamehub.games import fairness
from gamehub.models import Game, RewardTable
from gamehub.wallet.verify import verify_ledger
from tests.support.api import Client, bearer, register
from tests.wallet.support import fund


@dataclass
class Player:
    id: int
    username: str
    headers: dict[str, str]


async def player(client: Client, runtime: Runtime, balance_minor: int = 100_000) -> Player:
    account = await register(client)
    if balance_minor:
        await fund(runtime, account["username"], balance_minor)
    return Player(account["id"], account["username"], bearer(account["access_token"]))


async def balance(client: Client, who: Player) -> float:
    value: float = (await client.get("/wallet", headers=who.headers)).json()["balance"]
    return value


async def assert_ledger_ok(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as session:
        report = await verify_ledger(session)
    assert report.ok, report.problems


PLAY = "/games/spin-and-win/play"


def opening(sent: list[str]) -> list[str]:
    """Each statement's first three words: enough to tell them apart."""
    return [" ".join(s.split()[:3]) for s in sent]


def postgresql_only(reason: str) -> Callable[[str], None]:
    """An autouse fixture, assigned in a module, that skips its tests on other backends."""

    @pytest.fixture(autouse=True)
    def skip_unless_postgresql(backend_name: str) -> None:
        if backend_name != "postgresql":
            pytest.skip(reason)

    return skip_unless_postgresql


# Imported by a module whose tests count every statement sent: its `client` and `runtime`
# are then the app's without the games clock, so that only the requests' own are counted.
@pytest.fixture(name="client")
def quiet_app_client(quiet_client: Client) -> Client:
    return quiet_client


@pytest.fixture(name="runtime")
def quiet_app_runtime(quiet_runtime: Runtime) -> Runtime:
    return quiet_runtime


async def put_reward_table(runtime: Runtime, table: str) -> int:
    """Put ``table`` (JSON) in force as Spin and Win's next version, straight in the
    database: for tests that need a table the admin API's return bounds refuse."""
    async with runtime.db.unit_of_work() as session:
        game = (await session.execute(select(Game).where(Game.slug == "spin-and-win"))).scalar_one()
        latest = await session.scalar(
            select(func.max(RewardTable.version)).where(RewardTable.game_id == game.id)
        )
        version = int(latest or 0) + 1
        public = fairness.parse_reward_table(table).public()
        session.add(
            RewardTable(
                game_id=game.id, version=version, table=json.dumps(public), created_by="tests"
            )
        )
        game.reward_table_version = version
    return version
