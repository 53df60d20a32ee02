"""GET /games: the seeded catalog with published return to player."""

from __future__ import annotations

from fractions import Fraction

from gamehub.core.runtime import Runtime
from tests.games.support import put_reward_table
from tests.support.api import Client


async def test_the_catalog_lists_both_games(client: Client) -> None:
    games = (await client.get("/games")).json()
    assert [g["slug"] for g in games] == ["spin-and-win", "russian-roulette"]
    for game in games:
        assert game["is_active"] is True
        assert game["min_bet"] < game["max_bet"]
        assert game["rules"]


async def test_spin_and_win_publishes_its_table_and_rtp(client: Client) -> None:
    game = (await client.get("/games/spin-and-win")).json()
    assert Fraction(game["rtp_exact"]) == Fraction(24, 25)
    assert 0.95 <= game["rtp"] <= 0.97
    assert abs(game["rtp"] + game["house_edge"] - 1) < 1e-12
    table = game["reward_table"]
    paid = sum(Fraction(s["multiplier"]) * s["weight"] for s in table)
    assert paid / sum(s["weight"] for s in table) == Fraction(game["rtp_exact"])


async def test_roulette_returns_the_pot_less_the_rake(client: Client) -> None:
    game = (await client.get("/games/russian-roulette")).json()
    assert Fraction(game["rtp_exact"]) == Fraction(95, 100)
    assert game["reward_table"] is None


async def test_the_table_in_force_is_published_with_its_version(
    client: Client, runtime: Runtime
) -> None:
    assert (await client.get("/games/spin-and-win")).json()["reward_table_version"] == 1
    table = '[{"multiplier": "0", "weight": 1}, {"multiplier": "1.8", "weight": 1}]'
    version = await put_reward_table(runtime, table)
    game = (await client.get("/games/spin-and-win")).json()
    assert game["rtp_exact"] == "9/10"
    assert game["reward_table_version"] == version
    assert game["reward_table"] == [
        {"multiplier": "0.0", "weight": 1},
        {"multiplier": "1.8", "weight": 1},
    ]


async def test_every_version_stays_published(client: Client, runtime: Runtime) -> None:
    first = (await client.get("/games/spin-and-win/reward-tables/1")).json()
    await put_reward_table(
        runtime, '[{"multiplier": "0", "weight": 1}, {"multiplier": "1.8", "weight": 1}]'
    )
    assert (await client.get("/games/spin-and-win/reward-tables/1")).json() == first
    assert Fraction(first["rtp_exact"]) == Fraction(24, 25)
    assert first["version"] == 1
    missing = await client.get("/games/spin-and-win/reward-tables/99")
    assert missing.status_code == 404
    assert missing.json()["error"] == "RewardTableNotFound"
    roulette = await client.get("/games/russian-roulette/reward-tables/1")
    assert roulette.status_code == 404


async def test_unknown_games_are_404(client: Client) -> None:
    response = await client.get("/games/poker")
    assert response.status_code == 404
    assert response.json() == {"error": "GameNotFound", "detail": "No game poker"}
    room = await client.get("/games/roulette/123456")
    assert room.status_code == 404
    assert room.json()["error"] == "RoomNotFound"
