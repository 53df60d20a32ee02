"""Survival and elimination bets: fixed odds, open until the first pull, settled exactly."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gamehub.core.runtime import Runtime
from gamehub.games import fairness
from tests.games.roulette.test_game import STAKE, play_to_the_end, room_state, seat_players
from tests.games.support import assert_ledger_ok, balance, player
from tests.support.api import Client


async def test_side_bets_of_both_kinds_settle_at_the_end(client: Client, runtime: Runtime) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    spectator = await player(client, runtime)
    target = players[0]
    survival = await client.post(
        "/games/place-bet",
        headers=spectator.headers,
        json={"roulette_id": room_id, "player_id": target.id, "bet_type": "survival",
              "bet_amount": 50},
    )  # fmt: skip
    elimination = await client.post(
        "/games/place-bet",
        headers=spectator.headers,
        json={"roulette_id": room_id, "player_id": target.id, "bet_type": "elimination",
              "bet_amount": "20"},
    )  # fmt: skip
    assert survival.status_code == elimination.status_code == 200
    # Two players: each is hit with probability 1/2, so both bets pay 2 x 0.95.
    expected_odds = fairness.survival_multiplier(2, 0, Fraction(5, 100))
    assert survival.json()["odds"] == float(expected_odds) == 1.9
    assert survival.json()["potential_win"] == 95
    assert elimination.json()["new_balance"] == 1000 - 70
    await play_to_the_end(client, players, room_id)
    state = await room_state(client, room_id)
    target_hit = state["eliminated_player"] == target.id
    won = 20 * 1.9 if target_hit else 50 * 1.9
    assert await balance(client, spectator) == 1000 - 70 + won
    statuses = {b["bet_type"]: b["status"] for b in state["side_bets"]}
    assert statuses == (
        {"survival": "lost", "elimination": "won"}
        if target_hit
        else {"survival": "won", "elimination": "lost"}
    )
    await assert_ledger_ok(runtime)


async def test_odds_read_alike_in_the_bet_the_room_and_the_history(
    client: Client, runtime: Runtime
) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    spectator = await player(client, runtime)
    placed = await client.post(
        "/games/place-bet",
        headers=spectator.headers,
        json={"roulette_id": room_id, "player_id": players[0].id, "bet_type": "survival",
              "bet_amount": 50},
    )  # fmt: skip
    assert (placed.json()["odds"], placed.json()["odds_exact"]) == (1.9, "19/10")
    (in_room,) = (await room_state(client, room_id))["side_bets"]
    assert (in_room["odds"], in_room["odds_exact"], in_room["bet_amount"]) == (1.9, "19/10", 50)
    (in_history,) = (await client.get("/history", headers=spectator.headers)).json()
    assert (in_history["odds"], in_history["odds_exact"]) == (1.9, "19/10")
    # A stake has no odds, in the history as anywhere.
    (stake,) = (await client.get("/history", headers=players[0].headers)).json()
    assert (stake["odds"], stake["odds_exact"]) == (None, None)


async def test_betting_closes_at_the_first_pull(client: Client, runtime: Runtime) -> None:
    players, room_id = await seat_players(client, runtime, 3)
    state = await room_state(client, room_id)
    shooter = next(p for p in players if p.id == state["next_player"])
    await client.post("/games/pull-trigger", headers=shooter.headers, json={"roulette_id": room_id})
    late = await client.post(
        "/games/place-bet",
        headers=players[0].headers,
        json={"roulette_id": room_id, "player_id": players[1].id, "bet_type": "survival",
              "bet_amount": 10},
    )  # fmt: skip
    state = await room_state(client, room_id)
    if state["status"] == "playing":
        assert late.status_code == 409
        assert late.json()["error"] == "BettingClosed"
        assert state["bets_open"] is False


async def test_bets_may_be_placed_while_the_room_waits(client: Client, runtime: Runtime) -> None:
    first = await player(client, runtime)
    room_id = (
        await client.post(
            "/games/join", headers=first.headers, json={"stake": STAKE, "max_players": 3}
        )
    ).json()["roulette_id"]
    fan = await player(client, runtime)
    placed = await client.post(
        "/games/place-bet",
        headers=fan.headers,
        json={"roulette_id": room_id, "player_id": first.id, "bet_type": "elimination",
              "bet_amount": 30},
    )  # fmt: skip
    assert placed.status_code == 200
    # One in three to be hit: 3 x 0.95.
    assert placed.json()["odds"] == pytest.approx(2.85)
    # The player leaves before the start: the bet on them is void and refunded.
    await client.post("/games/leave", headers=first.headers, json={"roulette_id": room_id})
    assert await balance(client, fan) == 1000
    state = await room_state(client, room_id)
    assert state["side_bets"][0]["status"] == "refunded"
    await assert_ledger_ok(runtime)


async def test_side_bets_are_void_when_a_player_forfeits(client: Client, runtime: Runtime) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    fan = await player(client, runtime)
    await client.post(
        "/games/place-bet",
        headers=fan.headers,
        json={"roulette_id": room_id, "player_id": players[0].id, "bet_type": "elimination",
              "bet_amount": 40},
    )  # fmt: skip
    await client.post("/games/leave", headers=players[0].headers, json={"roulette_id": room_id})
    assert await balance(client, fan) == 1000
    await assert_ledger_ok(runtime)


@pytest.mark.parametrize(
    ("change", "status"),
    [({"bet_type": "jackpot"}, 422), ({"bet_amount": 0}, 422), ({"bet_amount": -5}, 422),
     ({"bet_amount": 5}, 422), ({"player_id": 999999}, 422), ({"roulette_id": 999999}, 404),
     ({"bet_amount": "1e999"}, 422)],
)  # fmt: skip
async def test_bad_side_bets_are_refused(
    client: Client, runtime: Runtime, change: dict[str, object], status: int
) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    fan = await player(client, runtime)
    body = {"roulette_id": room_id, "player_id": players[0].id, "bet_type": "survival",
            "bet_amount": 10, **change}  # fmt: skip
    response = await client.post("/games/place-bet", headers=fan.headers, json=body)
    assert response.status_code == status, response.text
    assert await balance(client, fan) == 1000


async def test_place_bet_honours_idempotency_key(client: Client, runtime: Runtime) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    fan = await player(client, runtime)
    headers = {**fan.headers, "Idempotency-Key": "bet-once"}
    body = {"roulette_id": room_id, "player_id": players[1].id, "bet_type": "survival",
            "bet_amount": 10}  # fmt: skip
    first = await client.post("/games/place-bet", headers=headers, json=body)
    again = await client.post("/games/place-bet", headers=headers, json=body)
    assert again.json() == first.json()
    assert await balance(client, fan) == 990
