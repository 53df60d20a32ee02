"""The roulette lobby, GET /games/roulette: open rooms to join or watch, newest first."""

from __future__ import annotations

from gamehub.core.runtime import Runtime
from tests.games.roulette.test_game import STAKE, play_to_the_end, seat_players
from tests.games.support import player
from tests.support.api import Client


async def open_room(
    client: Client, runtime: Runtime, max_players: int = 2, stake: int = STAKE
) -> int:
    """A new room with one player: joining matches players into a waiting room of the same
    stake and size, so each room here that must stay apart has a stake of its own."""
    opener = await player(client, runtime)
    response = await client.post(
        "/games/join", headers=opener.headers, json={"stake": stake, "max_players": max_players}
    )
    assert response.status_code == 200, response.text
    room_id: int = response.json()["roulette_id"]
    return room_id


async def lobby(client: Client, query: str = "") -> list[int]:
    response = await client.get(f"/games/roulette{query}")
    assert response.status_code == 200, response.text
    return [room["roulette_id"] for room in response.json()["items"]]


async def test_the_lobby_lists_waiting_and_playing_rooms_newest_first_for_anyone(
    client: Client, runtime: Runtime
) -> None:
    waiting = await open_room(client, runtime, max_players=3)
    _, playing = await seat_players(client, runtime, 2)

    response = await client.get("/games/roulette")

    assert response.status_code == 200
    rooms = {room["roulette_id"]: room for room in response.json()["items"]}
    assert list(rooms)[:2] == [playing, waiting]
    assert rooms[waiting]["status"] == "waiting"
    assert len(rooms[waiting]["players"]) == 1
    assert rooms[playing]["status"] == "playing"
    assert rooms[playing]["pot"] == 2 * STAKE
    assert rooms[playing]["seed"] is None  # still secret while it is played


async def test_a_finished_room_leaves_the_lobby(client: Client, runtime: Runtime) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    await play_to_the_end(client, players, room_id)

    assert room_id not in await lobby(client)


async def test_the_lobby_filters_by_status(client: Client, runtime: Runtime) -> None:
    waiting = await open_room(client, runtime, max_players=6)
    _, playing = await seat_players(client, runtime, 2)

    only_waiting = await lobby(client, "?status=waiting")
    only_playing = await lobby(client, "?status=playing")

    assert waiting in only_waiting
    assert playing not in only_waiting
    assert playing in only_playing
    assert waiting not in only_playing


async def test_the_lobby_pages_with_a_cursor_without_repeating_a_room(
    client: Client, runtime: Runtime
) -> None:
    opened = [await open_room(client, runtime, max_players=6, stake=STAKE + i) for i in range(3)]

    first = await client.get("/games/roulette?limit=2&status=waiting")
    cursor = first.headers["X-Next-Cursor"]
    assert first.json()["next_cursor"] == cursor
    second = await client.get(f"/games/roulette?limit=2&status=waiting&cursor={cursor}")

    seen = [r["roulette_id"] for r in first.json()["items"] + second.json()["items"]]
    assert seen[:3] == opened[::-1]
    assert len(seen) == len(set(seen))


async def test_a_bad_status_or_limit_is_a_validation_error(client: Client) -> None:
    for query in ("?status=finished", "?limit=0", "?limit=101", "?cursor=abc"):
        response = await client.get(f"/games/roulette{query}")
        assert response.status_code == 422, query
        assert response.json()["error"] == "ValidationError"
