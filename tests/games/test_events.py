"""Games announce what happened, after the commit, to the players and the room."""

from __future__ import annotations

from typing import Any

import anyio

from gamehub.core.events import room_topic, user_topic
from gamehub.core.runtime import Runtime
from tests.games.roulette.test_game import play_to_the_end, seat_players
from tests.games.support import player
from tests.support.api import Client


async def collect(runtime: Runtime, topic: str, names: set[str], into: list[Any]) -> None:
    async for event in runtime.events.subscribe([topic]):
        into.append(event)
        if event.name in names:
            return


async def test_a_spin_sends_its_player_a_bet_update(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    received: list[Any] = []
    async with anyio.create_task_group() as group:
        group.start_soon(collect, runtime, user_topic(me.id), {"bet_update"}, received)
        await anyio.sleep(0.1)  # subscribed before the spin
        body = (
            await client.post(
                "/games/spin-and-win/play", headers=me.headers, json={"bet_amount": 10}
            )
        ).json()
        with anyio.fail_after(5):
            while not received:  # noqa: ASYNC110
                await anyio.sleep(0.02)
    assert received[-1].name == "bet_update"
    assert received[-1].data["bet_id"] == body["bet_id"]
    assert received[-1].data["result"] == body["result"]


async def test_a_refused_spin_sends_nothing(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime, 0)
    received: list[Any] = []
    with anyio.move_on_after(0.5):
        async with anyio.create_task_group() as group:
            group.start_soon(collect, runtime, user_topic(me.id), {"bet_update"}, received)
            await anyio.sleep(0.1)
            await client.post(
                "/games/spin-and-win/play", headers=me.headers, json={"bet_amount": 10}
            )
    assert received == []


async def test_a_room_tells_its_watchers_the_whole_story(client: Client, runtime: Runtime) -> None:
    first = await player(client, runtime)
    room_id = (await client.post("/games/join", headers=first.headers, json={"stake": 50})).json()[
        "roulette_id"
    ]
    received: list[Any] = []
    async with anyio.create_task_group() as group:
        group.start_soon(collect, runtime, room_topic(room_id), {"game_result"}, received)
        await anyio.sleep(0.1)
        second = await player(client, runtime)
        await client.post("/games/join", headers=second.headers, json={"stake": 50})
        await play_to_the_end(client, [first, second], room_id)
    names = [e.name for e in received]
    assert names[:2] == ["game_status", "game_started"]
    assert names[-1] == "game_result"
    assert "trigger_result" in names
    result = received[-1].data
    assert result["roulette_id"] == room_id
    assert result["eliminated_player"] in (first.id, second.id)
    # The names the routes use, and the seed's beside them.
    last_pull = next(e.data for e in reversed(received) if e.name == "trigger_result")
    assert last_pull["chamber"] == last_pull["position"] == result["bullet_chamber"]
    assert result["bullet_position"] == result["bullet_chamber"]


async def test_players_hear_about_their_room_on_their_own_stream(
    client: Client, runtime: Runtime
) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    received: list[Any] = []
    async with anyio.create_task_group() as group:
        group.start_soon(
            collect, runtime, user_topic(players[0].id), {"leaderboard_update"}, received
        )
        await anyio.sleep(0.1)
        await play_to_the_end(client, players, room_id)
    names = [e.name for e in received]
    # The game's end comes first, then the leaderboard's move.
    assert names.index("game_result") < names.index("leaderboard_update")
