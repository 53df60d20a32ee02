"""Every roulette move that moves money honours Idempotency-Key: a repeat of a pull or a
leave replays the first answer, byte for byte, instead of pulling or leaving again."""

from __future__ import annotations

from gamehub.core.runtime import Runtime
from tests.games.roulette.test_game import STAKE, room_state, seat_players
from tests.games.support import assert_ledger_ok, balance, player
from tests.support.api import Client


async def test_a_repeated_pull_replays_the_first_and_pulls_once(
    client: Client, runtime: Runtime
) -> None:
    players, room_id = await seat_players(client, runtime, 3)
    turn = (await room_state(client, room_id))["next_player"]
    shooter = next(p for p in players if p.id == turn)
    headers = {**shooter.headers, "Idempotency-Key": "pull-1"}
    body = {"roulette_id": room_id}
    first = await client.post("/games/pull-trigger", headers=headers, json=body)
    assert first.status_code == 200, first.text
    pulled = (await room_state(client, room_id))["chambers_pulled"]
    again = await client.post("/games/pull-trigger", headers=headers, json=body)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await room_state(client, room_id))["chambers_pulled"] == pulled == 1
    await assert_ledger_ok(runtime)


async def test_a_pull_key_reused_for_another_room_is_refused(
    client: Client, runtime: Runtime
) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    turn = (await room_state(client, room_id))["next_player"]
    shooter = next(p for p in players if p.id == turn)
    headers = {**shooter.headers, "Idempotency-Key": "pull-2"}
    first = await client.post("/games/pull-trigger", headers=headers, json={"roulette_id": room_id})
    assert first.status_code == 200
    other = await client.post("/games/pull-trigger", headers=headers, json={"game_id": room_id})
    assert other.status_code == 422
    assert "different request" in other.json()["detail"]


async def test_a_repeated_leave_refunds_once(client: Client, runtime: Runtime) -> None:
    leaver = await player(client, runtime)
    stayer = await player(client, runtime)
    join = {"stake": STAKE, "max_players": 3}
    room_id = (await client.post("/games/join", headers=leaver.headers, json=join)).json()[
        "roulette_id"
    ]
    await client.post("/games/join", headers=stayer.headers, json=join)
    headers = {**leaver.headers, "Idempotency-Key": "leave-1"}
    first = await client.post("/games/leave", headers=headers, json={"roulette_id": room_id})
    assert first.status_code == 200, first.text
    # Without the key a second leave is refused (no seat any more); with it, it replays.
    again = await client.post("/games/leave", headers=headers, json={"roulette_id": room_id})
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await balance(client, leaver) == 1000
    await assert_ledger_ok(runtime)
