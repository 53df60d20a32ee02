"""Games announce what happened, after the commit, to the players and the room."""

from __future__ import annotations

from gamehub.core.events import room_topic, user_topic
from gamehub.core.runtime import Runtime
from tests.games.roulette.test_game import play_to_the_end, seat_players
from tests.games.support import player
from tests.support.api import Client
from tests.support.events import events_until
from tests.wallet.support import fund


async def test_a_spin_sends_its_player_a_bet_update(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    # Open before the spin: what it publishes cannot be missed.
    subscription = await runtime.events.open([user_topic(me.id)])
    body = (
        await client.post("/games/spin-and-win/play", headers=me.headers, json={"bet_amount": 10})
    ).json()
    received = await events_until(subscription, "bet_update")
    runtime.events.unsubscribe(subscription)
    assert received[-1].data["bet_id"] == body["bet_id"]
    assert received[-1].data["result"] == body["result"]


async def test_a_refused_spin_sends_nothing(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime, 0)
    subscription = await runtime.events.open([user_topic(me.id)])
    refused = await client.post(
        "/games/spin-and-win/play", headers=me.headers, json={"bet_amount": 10}
    )
    assert refused.json()["error"] == "InsufficientFunds", refused.text
    # A spin that is played afterwards: everything heard up to its bet_update is its own.
    await fund(runtime, me.username, 100_000)
    played = await client.post(
        "/games/spin-and-win/play", headers=me.headers, json={"bet_amount": 10}
    )
    received = await events_until(subscription, "bet_update")
    runtime.events.unsubscribe(subscription)
    # Only the funds' movement and the played spin's (its stake, a win if any, its bet)
    # were heard: the refused spin sent nothing. The funds' event may come before or
    # after the spin's, since they are published by separate commits.
    bet_id = played.json()["bet_id"]
    assert [e.data["bet_id"] for e in received if e.name == "bet_update"] == [bet_id]
    references = [e.data["reference"] for e in received if e.name == "transaction_update"]
    assert f"spin-stake:{bet_id}" in references
    assert all(
        r.startswith("adjustment:") or r in (f"spin-stake:{bet_id}", f"spin-win:{bet_id}")
        for r in references
    ), references
    assert {e.name for e in received} == {"transaction_update", "bet_update"}


async def test_a_room_tells_its_watchers_the_whole_story(client: Client, runtime: Runtime) -> None:
    first = await player(client, runtime)
    room_id = (await client.post("/games/join", headers=first.headers, json={"stake": 50})).json()[
        "roulette_id"
    ]
    watching = await runtime.events.open([room_topic(room_id)])
    second = await player(client, runtime)
    await client.post("/games/join", headers=second.headers, json={"stake": 50})
    await play_to_the_end(client, [first, second], room_id)
    received = await events_until(watching, "game_result")
    runtime.events.unsubscribe(watching)
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
    own = await runtime.events.open([user_topic(players[0].id)])
    await play_to_the_end(client, players, room_id)
    received = await events_until(own, "leaderboard_update")
    runtime.events.unsubscribe(own)
    names = [e.name for e in received]
    # The game's end comes first, then the leaderboard's move.
    assert names.index("game_result") < names.index("leaderboard_update")
