"""Each room keeps the rake in force when it opened (the opener's stake is taken in that
transaction): an operator's change applies to rooms opened after it, never to money
already staked, on every settlement path (PostgreSQL's combined pull, the generic one,
a forfeit), and the room's state shows the rake before anyone joins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from gamehub.core.runtime import Runtime
from gamehub.models import Game
from tests.games.roulette.test_game import STAKE, play_to_the_end, room_state
from tests.games.support import Player, assert_ledger_ok, balance, player
from tests.support.api import Client

POT = 2 * STAKE * 100  # minor units, two players


async def set_rake(runtime: Runtime, rake_bps: int) -> None:
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(Game).where(Game.slug == "russian-roulette").values(rake_bps=rake_bps)
        )


async def join(client: Client, who: Player) -> dict[str, Any]:
    response = await client.post(
        "/games/join", headers=who.headers, json={"stake": STAKE, "max_players": 2}
    )
    assert response.status_code == 200, response.text
    joined: dict[str, Any] = response.json()
    return joined


async def assert_survivor_paid(
    client: Client, players: list[Player], room_id: int, rake_bps: int
) -> None:
    final = await room_state(client, room_id)
    assert final["status"] == "finished"
    share = POT - POT * rake_bps // 10_000
    for who in players:
        won = 0 if who.id == final["eliminated_player"] else share
        assert await balance(client, who) == 1000 - STAKE + won / 100


async def test_a_rake_change_after_a_room_opened_leaves_its_settlement_alone(
    client: Client, runtime: Runtime
) -> None:
    first, second = await player(client, runtime), await player(client, runtime)
    opened = await join(client, first)
    assert opened["rake_bps"] == 500
    room_id = opened["roulette_id"]

    await set_rake(runtime, 1000)
    # The second player joins at the room's terms, and is told them.
    assert (await join(client, second))["rake_bps"] == 500
    state = await room_state(client, room_id)
    assert (state["rake_bps"], state["rake_exact"]) == (500, "1/20")
    # Changed again while the game is played: still the room's 5%.
    await set_rake(runtime, 2000)
    await play_to_the_end(client, [first, second], room_id)

    await assert_survivor_paid(client, [first, second], room_id, 500)
    assert (await room_state(client, room_id))["rake_bps"] == 500
    await assert_ledger_ok(runtime)


async def test_a_room_opened_after_the_change_settles_at_the_new_rake(
    client: Client, runtime: Runtime
) -> None:
    # A room opened before the change, still waiting, keeps its rake beside the new one.
    early = await join(client, await player(client, runtime))
    await set_rake(runtime, 1000)
    first, second = await player(client, runtime), await player(client, runtime)
    # Matched into the waiting room of its kind: that one is the early room.
    assert (await join(client, first))["roulette_id"] == early["roulette_id"]
    later = await client.post(
        "/games/join", headers=second.headers, json={"stake": STAKE, "max_players": 3}
    )
    assert later.status_code == 200, later.text
    assert later.json()["rake_bps"] == 1000

    lobby = (await client.get("/games/roulette")).json()["items"]
    shown = {room["roulette_id"]: (room["rake_bps"], room["rake_exact"]) for room in lobby}
    assert shown[early["roulette_id"]] == (500, "1/20")
    assert shown[later.json()["roulette_id"]] == (1000, "1/10")


async def test_a_game_opened_after_the_change_pays_the_pot_less_the_new_rake(
    client: Client, runtime: Runtime
) -> None:
    await set_rake(runtime, 1000)
    players = [await player(client, runtime), await player(client, runtime)]
    room_id = (await join(client, players[0]))["roulette_id"]
    await join(client, players[1])
    # Back to 5% mid-game: the room settles at the 10% it opened with.
    await set_rake(runtime, 500)
    await play_to_the_end(client, players, room_id)

    await assert_survivor_paid(client, players, room_id, 1000)
    await assert_ledger_ok(runtime)


async def test_a_forfeit_settles_at_the_rooms_rake(client: Client, runtime: Runtime) -> None:
    players = [await player(client, runtime), await player(client, runtime)]
    room_id = (await join(client, players[0]))["roulette_id"]
    await join(client, players[1])
    await set_rake(runtime, 3000)
    leaving, staying = players
    left = await client.post("/games/leave", headers=leaving.headers, json={"roulette_id": room_id})
    assert left.status_code == 200, left.text
    assert left.json()["forfeited"] is True

    assert await balance(client, leaving) == 1000 - STAKE
    assert await balance(client, staying) == 1000 - STAKE + (POT - POT * 500 // 10_000) / 100
    await assert_ledger_ok(runtime)
