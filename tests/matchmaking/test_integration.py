"""Matchmaking and game servers: keys and scopes, the session registry, and /terminate."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from gamehub.cli import main
from gamehub.core.cache import get_json
from gamehub.core.events import user_topic
from gamehub.matchmaking.service import session_key
from gamehub.models import ExternalGame, ServiceCredential, User
from gamehub.models.base import utcnow
from gamehub.settings import get_settings
from tests.matchmaking.support import (
    assert_ledger_clean,
    balance,
    key,
    public_stats,
    register,
    result,
)
from tests.stats.support import players
from tests.support.apps import Served
from tests.wallet.support import fund


async def test_only_keys_with_the_right_scope_get_in(
    api: Served, keys: dict[str, dict[str, str]]
) -> None:
    (me,) = await players(api.client, 1)
    update_body = {"game_id": "ROOM01", "num_players": 1}
    post = api.client.post
    assert (await post("/update", json=update_body)).status_code == 401
    assert (await post("/update", json=update_body, headers=me.headers)).status_code == 401
    wrong = {"X-Service-Key": "ghs_not-a-real-key"}
    assert (await post("/update", json=update_body, headers=wrong)).status_code == 401
    denied = await post("/update", json=update_body, headers=keys["game-server"])
    assert denied.status_code == 403
    assert "matchmaking" in denied.json()["detail"]
    assert (await post("/update", json=update_body, headers=keys["matchmaking"])).status_code == 200

    end = {"game_id": "ROOM01"}
    assert (await post("/terminate", json=end, headers=keys["matchmaking"])).status_code == 403
    assert (await post("/terminate", json=end, headers=me.headers)).status_code == 401
    bearer = {"Authorization": "Bearer " + keys["game-server"]["X-Service-Key"]}
    assert (await post("/terminate", json=end, headers=bearer)).status_code == 200

    both = await key(api.runtime, "game-server", "matchmaking")
    assert (
        await post("/update", json={**update_body, "game_id": "R2"}, headers=both)
    ).status_code == 200
    async with api.runtime.db.unit_of_work() as session:
        await session.execute(update(ServiceCredential).values(revoked_at=utcnow()))
    assert (await post("/update", json=update_body, headers=keys["matchmaking"])).status_code == 401


async def test_sessions_are_for_services_and_operators(
    api: Served, keys: dict[str, dict[str, str]]
) -> None:
    me, admin = await players(api.client, 2)
    async with api.runtime.db.unit_of_work() as session:
        await session.execute(update(User).where(User.id == admin.id).values(is_admin=True))
    assert (await api.client.get("/sessions")).status_code == 401
    assert (await api.client.get("/sessions", headers=me.headers)).status_code == 403
    assert (await api.client.get("/sessions", headers=admin.headers)).status_code == 200
    assert (await api.client.get("/sessions", headers=keys["game-server"])).status_code == 200


async def test_update_registers_a_session_with_an_expiry(
    api: Served, keys: dict[str, dict[str, str]]
) -> None:
    a, b = await players(api.client, 2)
    mm = keys["matchmaking"]
    listening = await api.runtime.events.open([user_topic(a.id)])
    response = await api.client.post(
        "/update",
        json={"game_id": "K3X9QZ", "num_players": 2, "players": [a.username.upper(), b.id]},
        headers=mm,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Game K3X9QZ updated successfully!"
    session = body["session"]
    assert (session["game_id"], session["num_players"], session["players"]) == (
        "K3X9QZ",
        2,
        [a.id, b.id],
    )
    assert session["game"] == "external"
    with anyio.fail_after(5):
        status = await listening.get()
    api.runtime.events.unsubscribe(listening)
    assert (status.name, status.data["status"], status.data["players"]) == (
        "game_status",
        "active",
        2,
    )

    cached = await get_json(api.runtime.cache, session_key("K3X9QZ"))
    assert cached["num_players"] == 2
    ttl = await api.runtime.cache.ttl(session_key("K3X9QZ"))
    assert ttl is not None
    assert 0 < ttl <= api.runtime.settings.game_session_ttl_seconds

    again = await api.client.post(
        "/update", json={"game_id": "K3X9QZ", "num_players": 3, "game": "poker"}, headers=mm
    )
    assert again.json()["session"]["num_players"] == 3
    assert again.json()["session"]["players"] == [a.id, b.id]
    shrunk = {"game_id": "K3X9QZ", "num_players": 1}
    assert (await api.client.post("/update", json=shrunk, headers=mm)).status_code == 422
    emptied = {"game_id": "K3X9QZ", "num_players": 1, "players": []}
    assert (await api.client.post("/update", json=emptied, headers=mm)).json()["session"][
        "players"
    ] == []
    await api.client.post("/update", json={"game_id": "K3X9QZ", "num_players": 3}, headers=mm)
    await api.client.post("/update", json={"game_id": 42, "num_players": 1}, headers=mm)
    listed = (await api.client.get("/sessions", headers=mm)).json()["items"]
    assert [(s["game_id"], s["game"]) for s in listed] == [("42", "external"), ("K3X9QZ", "poker")]

    async with api.runtime.db.unit_of_work() as db:
        await db.execute(
            update(ExternalGame)
            .where(ExternalGame.game_id == "42")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    listed = (await api.client.get("/sessions", headers=mm)).json()["items"]
    assert [s["game_id"] for s in listed] == ["K3X9QZ"]


async def test_update_checks_its_input(api: Served, keys: dict[str, dict[str, str]]) -> None:
    (me,) = await players(api.client, 1)
    mm = keys["matchmaking"]
    bad_bodies = [
        {"game_id": "G1", "num_players": 1, "players": ["nobody_at_all"]},
        {"game_id": "G1", "num_players": 1, "players": [me.id, 999_999]},
        {"game_id": "G1", "num_players": 0, "players": [me.id]},
        {"game_id": "has space", "num_players": 1},
        {"game_id": "G1", "num_players": -1},
        {"game_id": "G1"},
        {"game_id": "G1", "num_players": 1, "extra": True},
    ]
    for body in bad_bodies:
        response = await api.client.post("/update", json=body, headers=mm)
        assert response.status_code == 422, (body, response.text)


async def test_terminate_records_results_once(api: Served, keys: dict[str, dict[str, str]]) -> None:
    a, b = await players(api.client, 2)
    gs, mm = keys["game-server"], keys["matchmaking"]
    await register(api, mm, "POKER7", a, b, game="poker")
    listening = await api.runtime.events.open([user_topic(a.id)])
    body = {
        "game_id": "POKER7",
        "results": [
            result(a, "win", "12.50"),
            {**result(b, "loss", -12.5), "user_id": None, "username": b.username},
        ],
    }
    first = await api.client.post("/terminate", json=body, headers=gs)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["message"] == "Game POKER7 terminated successfully!"
    assert answer["replayed"] is False
    assert answer["game"] == "poker"
    # Not settled, so untaxed (tests/matchmaking/test_taxes.py settles taxed games).
    untaxed = {"stake_tax": 0, "winnings_tax": 0}
    assert answer["results"] == [
        {"user_id": a.id, "username": a.username, "outcome": "win", "earnings": 12.5, **untaxed},
        {"user_id": b.id, "username": b.username, "outcome": "loss", "earnings": -12.5, **untaxed},
    ]
    with anyio.fail_after(5):
        event = await listening.get()
    api.runtime.events.unsubscribe(listening)
    assert (event.name, event.data["game_id"], event.data["game_over"]) == (
        "game_result",
        "POKER7",
        True,
    )

    assert await get_json(api.runtime.cache, session_key("POKER7")) is None
    assert (await api.client.get("/sessions", headers=mm)).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert (await public_stats(api, a))["win_count"] == 1
    board = (await api.client.get("/leaderboard", params={"game": "poker"})).json()
    assert [(r["username"], r["earnings"]) for r in board] == [
        (a.username, 12.5),
        (b.username, -12.5),
    ]

    replay = await api.client.post("/terminate", json=body, headers=gs)
    assert replay.status_code == 200
    assert replay.json() == {**answer, "replayed": True}
    assert (await public_stats(api, a))["win_count"] == 1
    assert (await public_stats(api, b))["earnings"] == -12.5

    other = {**body, "results": [result(a, "win", "99")]}
    conflict = await api.client.post("/terminate", json=other, headers=gs)
    assert conflict.status_code == 409
    ended = await api.client.post(
        "/update", json={"game_id": "POKER7", "num_players": 2}, headers=mm
    )
    assert ended.status_code == 409


async def test_terminate_can_settle_wallets_through_the_ledger(
    api: Served, keys: dict[str, dict[str, str]]
) -> None:
    winner, loser, broke = await players(api.client, 3)
    await fund(api.runtime, loser.username, 10_000)
    gs = await key(api.runtime, "game-server", max_payout_minor=3_000)
    await register(api, keys["matchmaking"], "G-PAID", winner, loser, broke)

    body = {
        "game_id": "G-PAID",
        "settle_wallets": True,
        "results": [
            result(winner, "win", "30"),
            result(loser, "loss", "-30"),
            result(broke, "draw", 0),
        ],
    }
    paid = await api.client.post("/terminate", json=body, headers=gs)
    assert paid.status_code == 200, paid.text
    assert paid.json()["wallets_settled"] is True
    balances = [await balance(api, p) for p in (winner, loser, broke)]
    assert balances == [30.0, 70.0, 0.0]
    again = await api.client.post("/terminate", json=body, headers=gs)
    assert again.json()["replayed"] is True
    assert (await balance(api, winner), await balance(api, loser)) == (30.0, 70.0)
    await assert_ledger_clean(api)


async def test_concurrent_repeats_record_once(api: Served, keys: dict[str, dict[str, str]]) -> None:
    a, b = await players(api.client, 2)
    await register(api, keys["matchmaking"], "RACE", a, b)
    body = {"game_id": "RACE", "results": [result(a, "win", 1), result(b, "loss", -1)]}
    answers: list[httpx.Response] = []

    async def send() -> None:
        answers.append(await api.client.post("/terminate", json=body, headers=keys["game-server"]))

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(send)
    assert sorted(r.status_code for r in answers) == [200] * 6
    assert sorted(r.json()["replayed"] for r in answers) == [False] + [True] * 5
    assert (await public_stats(api, a))["win_count"] == 1
    assert (await public_stats(api, b))["loss_count"] == 1


async def test_terminate_checks_its_input(api: Served, keys: dict[str, dict[str, str]]) -> None:
    a, b = await players(api.client, 2)
    gs = keys["game-server"]
    missing = await api.client.post("/terminate", json={"game_id": "NOPE"}, headers=gs)
    assert missing.status_code == 404
    await register(api, keys["matchmaking"], "CHECK", a, b)
    bad_results = [
        [result(a, "win", "1.005")],
        [result(a, "tie", 1)],
        [result(a, "win", 1), result(a, "loss", -1)],
        [{"outcome": "win", "earnings": 1}],
        [{**result(a, "win", 1), "username": a.username}],
        [{"user_id": 999_999, "outcome": "win", "earnings": 1}],
        [result(a, "win", "lots")],
    ]
    for results in bad_results:
        response = await api.client.post(
            "/terminate", json={"game_id": "CHECK", "results": results}, headers=gs
        )
        assert response.status_code == 422, (results, response.text)
    assert (await public_stats(api, a))["win_count"] == 0
    ok = await api.client.post(
        "/terminate", json={"game_id": "CHECK", "results": [result(b, "draw", 0)]}, headers=gs
    )
    assert ok.status_code == 200


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GAMEHUB_DATABASE_URL", database_url)
    monkeypatch.delenv("GAMEHUB_REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_the_cli_prints_a_key_once_and_stores_its_digest(api: Served, cli_env: None) -> None:
    runner = CliRunner()
    created = await anyio.to_thread.run_sync(
        lambda: runner.invoke(main, ["service", "create", "mm-eu", "--scopes", "matchmaking"])
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.split("key: ", 1)[1].split()[0]
    assert secret.startswith("ghs_")
    async with api.runtime.db.unit_of_work() as session:
        stored = (
            await session.execute(
                select(ServiceCredential).where(ServiceCredential.name == "mm-eu")
            )
        ).scalar_one()
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (stored.key_hint, stored.scopes)
    update_body = {"game_id": "CLI1", "num_players": 0}
    ok = await api.client.post("/update", json=update_body, headers={"X-Service-Key": secret})
    assert ok.status_code == 200

    def run(*args: str) -> Any:
        return runner.invoke(main, list(args))

    assert (
        await anyio.to_thread.run_sync(run, "service", "create", "mm-eu", "--scopes", "matchmaking")
    ).exit_code == 1
    assert (
        await anyio.to_thread.run_sync(run, "service", "create", "x", "--scopes", "admin")
    ).exit_code == 2
    listed = await anyio.to_thread.run_sync(run, "service", "list")
    assert "mm-eu\tmatchmaking\tghs_" in listed.output
    assert secret not in listed.output
    revoked = await anyio.to_thread.run_sync(run, "service", "revoke", "mm-eu")
    assert revoked.exit_code == 0
    refused = await api.client.post("/update", json=update_body, headers={"X-Service-Key": secret})
    assert refused.status_code == 401
    assert (await anyio.to_thread.run_sync(run, "service", "revoke", "mm-eu")).exit_code == 1
