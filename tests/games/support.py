"""Players with money, for game tests."""

from __future__ import annotations

from dataclasses import dataclass

from gamehub.core.runtime import Runtime
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
