"""Service keys, registered games and results for the matchmaking tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from gamehub.core.runtime import Runtime
from gamehub.matchmaking.service import create_credential
from gamehub.models import LedgerTransaction, PlayerResult
from gamehub.wallet.verify import verify_ledger
from tests.stats.support import Player
from tests.support.api import unique_name
from tests.support.apps import Served


async def key(
    runtime: Runtime, *scopes: str, max_payout_minor: int | None = None
) -> dict[str, str]:
    async with runtime.db.unit_of_work() as session:
        secret = await create_credential(
            session, runtime, unique_name("svc"), scopes, max_payout_minor
        )
    return {"X-Service-Key": secret}


def result(who: Player, outcome: str, earnings: Any) -> dict[str, Any]:
    return {"user_id": who.id, "outcome": outcome, "earnings": earnings}


async def register(
    api: Served, matchmaking: dict[str, str], game_id: str, *who: Player, game: str | None = None
) -> None:
    """What matchmaking does before a game starts: /update with its players."""
    body: dict[str, Any] = {
        "game_id": game_id,
        "num_players": len(who),
        "players": [p.id for p in who],
    }
    if game is not None:
        body["game"] = game
    response = await api.client.post("/update", json=body, headers=matchmaking)
    assert response.status_code == 200, response.text


async def public_stats(api: Served, who: Player) -> dict[str, Any]:
    body: dict[str, Any] = (await api.client.post("/stats", json={"username": who.username})).json()
    return body


async def balance(api: Served, who: Player) -> float:
    value: float = (await api.client.get("/wallet", headers=who.headers)).json()["balance"]
    return value


async def written(api: Served) -> tuple[int, int]:
    """How many ledger transactions and player results exist: a refusal adds neither."""
    async with api.runtime.db.unit_of_work() as session:
        transactions = await session.scalar(select(func.count(LedgerTransaction.id)))
        results = await session.scalar(select(func.count(PlayerResult.id)))
    return int(transactions or 0), int(results or 0)


async def assert_ledger_clean(api: Served) -> None:
    async with api.runtime.db.unit_of_work() as session:
        report = await verify_ledger(session)
    assert report.ok, report.problems
