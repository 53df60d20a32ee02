"""GET /games: the seeded catalog with published return to player."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

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


async def test_a_configured_table_is_published(app_factory: Any) -> None:
    table = '[{"multiplier": "0", "weight": 1}, {"multiplier": "1.8", "weight": 1}]'
    async with app_factory(spin_reward_table=table) as client:
        game = (await client.get("/games/spin-and-win")).json()
        assert game["rtp_exact"] == "9/10"


async def test_unknown_games_are_404(client: Client) -> None:
    response = await client.get("/games/poker")
    assert response.status_code == 404
    assert response.json() == {"error": "GameNotFound", "detail": "No game poker"}
    room = await client.get("/games/roulette/123456")
    assert room.status_code == 404
    assert room.json()["error"] == "RoomNotFound"
