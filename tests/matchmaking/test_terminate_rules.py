"""/terminate settles only what matchmaking registered, within the key's payout limit.

Each refusal is a 4xx that says why, and leaves nothing written: no ledger transaction,
no result, no stats, the game still open, the ledger still verifying clean.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from gamehub.cli import main
from gamehub.models import ExternalGame, ServiceCredential
from gamehub.settings import get_settings
from tests.matchmaking.support import (
    assert_ledger_clean,
    balance,
    key,
    public_stats,
    register,
    result,
    written,
)
from tests.stats.support import players
from tests.support.apps import Served, served
from tests.wallet.support import fund


def terminate(game_id: str, *results: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"game_id": game_id, "results": list(results), "settle_wallets": True, **extra}


async def test_a_game_matchmaking_never_registered_is_refused(
    api: Served, keys: dict[str, dict[str, str]]
) -> None:
    (me,) = await players(api.client, 1)
    gs = await key(api.runtime, "game-server", max_payout_minor=100_000)
    before = await written(api)

    refused = await api.client.post(
        "/terminate", json=terminate("NEVER-SEEN", result(me, "win", "500")), headers=gs
    )
    assert refused.status_code == 404
    assert refused.json()["error"] == "GameNotRegistered"
    assert "POST /update" in refused.json()["detail"]
    assert await balance(api, me) == 0.0
    assert (await public_stats(api, me))["win_count"] == 0
    assert await written(api) == before
    async with api.runtime.db.unit_of_work() as session:
        games = (await session.execute(select(ExternalGame.game_id))).scalars().all()
    assert "NEVER-SEEN" not in games
    await assert_ledger_clean(api)


async def test_only_the_players_update_listed_are_settled(
    api: Served, keys: dict[str, dict[str, str]]
) -> None:
    player, outsider = await players(api.client, 2)
    gs = await key(api.runtime, "game-server", max_payout_minor=100_000)
    await register(api, keys["matchmaking"], "TABLE1", player)
    # Listed in another game: being registered somewhere is not enough.
    await register(api, keys["matchmaking"], "TABLE2", outsider)
    before = await written(api)

    body = terminate("TABLE1", result(player, "draw", 0), result(outsider, "win", "250"))
    refused = await api.client.post("/terminate", json=body, headers=gs)
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        f"results[1]: {outsider.username} is not a player of game TABLE1: /update did not list them"
    )
    assert await balance(api, outsider) == 0.0
    assert await written(api) == before
    await assert_ledger_clean(api)

    # The game is still open: its real results are taken.
    ok = await api.client.post(
        "/terminate", json=terminate("TABLE1", result(player, "draw", 0)), headers=gs
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["replayed"] is False


@pytest.mark.parametrize(
    ("outcome", "earnings", "detail"),
    [
        ("loss", "40", "a loss cannot earn 40.00"),
        ("win", "-5", "a win cannot earn -5.00"),
        ("draw", "0.01", "a draw cannot earn 0.01"),
        ("draw", "-3", "a draw cannot earn -3.00"),
    ],
)
async def test_an_outcome_and_its_earnings_must_agree(
    api: Served, keys: dict[str, dict[str, str]], outcome: str, earnings: str, detail: str
) -> None:
    gambler, opponent = await players(api.client, 2)
    await fund(api.runtime, opponent.username, 10_000)
    gs = await key(api.runtime, "game-server", max_payout_minor=100_000)
    await register(api, keys["matchmaking"], "SIGNS", gambler, opponent)
    before = await written(api)

    body = terminate("SIGNS", result(gambler, outcome, earnings), result(opponent, "draw", 0))
    refused = await api.client.post("/terminate", json=body, headers=gs)
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        f"results[0]: {detail} (a win earns 0 or more, a loss 0 or less, a draw exactly 0)"
    )
    assert (await balance(api, gambler), await balance(api, opponent)) == (0.0, 100.0)
    assert await written(api) == before
    await assert_ledger_clean(api)


async def test_a_win_may_be_worth_nothing_and_a_loss_may_cost_nothing(
    api: Served, keys: dict[str, dict[str, str]]
) -> None:
    """A game played for no stake still counts wins and losses."""
    a, b = await players(api.client, 2)
    await register(api, keys["matchmaking"], "FRIENDLY", a, b, game="chess")
    body = {"game_id": "FRIENDLY", "results": [result(a, "win", 0), result(b, "loss", "-0.00")]}
    ok = await api.client.post("/terminate", json=body, headers=keys["game-server"])
    assert ok.status_code == 200, ok.text
    assert (await public_stats(api, a))["win_count"] == 1
    assert (await public_stats(api, b))["loss_count"] == 1


async def test_one_game_pays_out_at_most_the_keys_limit(
    api: Served, keys: dict[str, dict[str, str]]
) -> None:
    first, second, loser = await players(api.client, 3)
    await fund(api.runtime, loser.username, 100_000)
    gs = await key(api.runtime, "game-server", max_payout_minor=5_000)
    mm = keys["matchmaking"]
    await register(api, mm, "BIG", first, second, loser)
    before = await written(api)

    # What losers pay in does not raise the limit: it bounds what is paid out.
    over = terminate(
        "BIG",
        result(first, "win", "30"),
        result(second, "win", "20.01"),
        result(loser, "loss", "-50.01"),
    )
    refused = await api.client.post("/terminate", json=over, headers=gs)
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "PayoutLimitExceeded",
        "detail": "results: the winners would be paid 50.01 in all, "
        "over this service key's limit of 50.00 per game",
    }
    balances = [await balance(api, p) for p in (first, second, loser)]
    assert balances == [0.0, 0.0, 1000.0]
    assert await written(api) == before
    await assert_ledger_clean(api)

    at_limit = terminate(
        "BIG", result(first, "win", "30"), result(second, "win", "20"), result(loser, "loss", -50)
    )
    paid = await api.client.post("/terminate", json=at_limit, headers=gs)
    assert paid.status_code == 200, paid.text
    balances = [await balance(api, p) for p in (first, second, loser)]
    assert balances == [30.0, 20.0, 950.0]
    await assert_ledger_clean(api)

    # A replay records nothing, so the limit is not asked again, even once lowered.
    async with api.runtime.db.unit_of_work() as session:
        await session.execute(update(ServiceCredential).values(max_payout_minor=0))
    replay = await api.client.post("/terminate", json=at_limit, headers=gs)
    assert replay.status_code == 200
    assert replay.json()["replayed"] is True
    other = await api.client.post("/terminate", json=over, headers=gs)
    assert other.status_code == 409
    assert await balance(api, first) == 30.0
    await assert_ledger_clean(api)


async def test_a_key_whose_limit_is_zero_cannot_settle_wallets(
    api: Served, keys: dict[str, dict[str, str]]
) -> None:
    winner, loser = await players(api.client, 2)
    await fund(api.runtime, loser.username, 10_000)
    # keys["game-server"] has no limit of its own, and the default setting is 0.
    gs = keys["game-server"]
    await register(api, keys["matchmaking"], "NOPAY", winner, loser)
    before = await written(api)

    # Even a game that would only collect: settling is not this key's to do.
    body = terminate("NOPAY", result(winner, "draw", 0), result(loser, "loss", -10))
    refused = await api.client.post("/terminate", json=body, headers=gs)
    assert refused.status_code == 403
    assert refused.json()["error"] == "SettlementForbidden"
    assert "payout limit is 0" in refused.json()["detail"]
    assert await balance(api, loser) == 100.0
    assert await written(api) == before
    await assert_ledger_clean(api)

    # Without settle_wallets it still records results.
    recorded = await api.client.post(
        "/terminate", json={**body, "settle_wallets": False}, headers=gs
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["wallets_settled"] is False
    assert await balance(api, loser) == 100.0
    assert (await public_stats(api, loser))["loss_count"] == 1


async def test_keys_without_a_limit_follow_the_setting(
    database_url: str, redis_url: str | None
) -> None:
    async with served(database_url, redis_url, service_max_payout_minor=2_000) as api:
        winner, other = await players(api.client, 2)
        gs = await key(api.runtime, "game-server")
        mm = await key(api.runtime, "matchmaking")
        await register(api, mm, "DEFAULT1", winner)
        await register(api, mm, "DEFAULT2", other)
        refused = await api.client.post(
            "/terminate", json=terminate("DEFAULT1", result(winner, "win", "20.01")), headers=gs
        )
        assert refused.status_code == 403
        assert "limit of 20.00 per game" in refused.json()["detail"]
        ok = await api.client.post(
            "/terminate", json=terminate("DEFAULT2", result(other, "win", "20")), headers=gs
        )
        assert ok.status_code == 200, ok.text
        assert await balance(api, other) == 20.0
        await assert_ledger_clean(api)


async def test_a_loser_never_pays_more_than_their_balance(
    api: Served, keys: dict[str, dict[str, str]]
) -> None:
    winner, loser = await players(api.client, 2)
    await fund(api.runtime, loser.username, 1_000)
    gs = await key(api.runtime, "game-server", max_payout_minor=100_000)
    await register(api, keys["matchmaking"], "DEBT", winner, loser)
    before = await written(api)

    body = terminate("DEBT", result(winner, "win", "10.01"), result(loser, "loss", "-10.01"))
    refused = await api.client.post("/terminate", json=body, headers=gs)
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "InsufficientFunds",
        "detail": f"results[1]: {loser.username} cannot pay 10.01: their balance is lower; "
        "nothing was settled",
    }
    # The winner, paid before the loser was asked, is not paid either: one transaction.
    assert (await balance(api, winner), await balance(api, loser)) == (0.0, 10.0)
    assert (await public_stats(api, loser))["loss_count"] == 0
    assert await written(api) == before
    await assert_ledger_clean(api)

    everything = terminate("DEBT", result(winner, "win", "10"), result(loser, "loss", "-10"))
    paid = await api.client.post("/terminate", json=everything, headers=gs)
    assert paid.status_code == 200, paid.text
    assert (await balance(api, winner), await balance(api, loser)) == (10.0, 0.0)
    await assert_ledger_clean(api)


@pytest.mark.parametrize("slug", ["spin-and-win", "russian-roulette"])
async def test_results_never_reach_our_own_games_boards(
    api: Served, keys: dict[str, dict[str, str]], slug: str
) -> None:
    player, rival = await players(api.client, 2)
    gs = await key(api.runtime, "game-server", max_payout_minor=100_000)
    mm = keys["matchmaking"]
    detail = (
        f"game: {slug} is one of Game Hub's own games, whose stats and leaderboards only "
        "its own plays write; report results under your game's own name"
    )

    registered = await api.client.post(
        "/update",
        json={"game_id": "FAKE", "num_players": 1, "players": [player.id], "game": slug},
        headers=mm,
    )
    assert registered.status_code == 422
    assert registered.json()["detail"] == detail

    await register(api, mm, "FAKE", player, rival)
    before = await written(api)
    body = terminate("FAKE", result(player, "win", "100"), result(rival, "draw", 0), game=slug)
    refused = await api.client.post("/terminate", json=body, headers=gs)
    assert refused.status_code == 422
    assert refused.json()["detail"] == detail

    # A game registered under that name before names were checked is refused too.
    async with api.runtime.db.unit_of_work() as session:
        await session.execute(
            update(ExternalGame).where(ExternalGame.game_id == "FAKE").values(game=slug)
        )
    body.pop("game")
    assert (await api.client.post("/terminate", json=body, headers=gs)).status_code == 422

    assert await written(api) == before
    assert await balance(api, player) == 0.0
    board = (await api.client.get("/leaderboard", params={"game": slug})).json()
    assert board == []
    await assert_ledger_clean(api)

    # Under its own name the same game is settled, on a board of its own.
    mine = await api.client.post("/terminate", json={**body, "game": "my-poker"}, headers=gs)
    assert mine.status_code == 200, mine.text
    board = (await api.client.get("/leaderboard", params={"game": "my-poker"})).json()
    assert [(r["username"], r["earnings"]) for r in board] == [(player.username, 100.0)]
    assert (await api.client.get("/leaderboard", params={"game": slug})).json() == []


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GAMEHUB_DATABASE_URL", database_url)
    monkeypatch.delenv("GAMEHUB_REDIS_URL", raising=False)
    monkeypatch.setenv("GAMEHUB_SERVICE_MAX_PAYOUT_MINOR", "2500")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_the_cli_sets_and_changes_a_keys_payout_limit(api: Served, cli_env: None) -> None:
    runner = CliRunner()

    async def run(*args: str) -> Any:
        return await anyio.to_thread.run_sync(lambda: runner.invoke(main, list(args)))

    async def stored() -> int | None:
        async with api.runtime.db.unit_of_work() as session:
            limit: int | None = (
                await session.execute(
                    select(ServiceCredential.max_payout_minor).where(
                        ServiceCredential.name == "gs-eu"
                    )
                )
            ).scalar_one()
        return limit

    created = await run(
        "service", "create", "gs-eu", "--scopes", "game-server", "--max-payout", "500.50"
    )
    assert created.exit_code == 0, created.output
    assert "max payout 500.50" in created.stdout
    assert await stored() == 50_050

    assert (await run("service", "update", "gs-eu", "--max-payout", "0")).exit_code == 0
    assert await stored() == 0
    listed = await run("service", "list")
    assert "gs-eu\tgame-server\tghs_" in listed.output
    assert "max payout 0.00\t" in listed.output

    assert (await run("service", "update", "gs-eu", "--max-payout", "default")).exit_code == 0
    assert await stored() is None
    listed = await run("service", "list")
    assert "max payout 25.00 (default)" in listed.output

    for bad in ("-1", "lots", "1.001"):
        refused = await run("service", "update", "gs-eu", "--max-payout", bad)
        assert refused.exit_code == 2, (bad, refused.output)
    assert await stored() is None
    missing = await run("service", "update", "nobody", "--max-payout", "10")
    assert missing.exit_code == 1
    assert (await run("service", "revoke", "gs-eu")).exit_code == 0
    assert (await run("service", "update", "gs-eu", "--max-payout", "10")).exit_code == 1
