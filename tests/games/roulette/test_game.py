"""Whole Russian Roulette games between real users over HTTP: turns, hits, payouts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from gamehub.core.clock import ManualClock
from gamehub.core.events import room_topic
from gamehub.core.runtime import Runtime
from gamehub.games import fairness
from gamehub.games.tasks import pull_overdue_turns
from gamehub.models import RouletteRoom, RouletteSeat, Stats
from tests.games.support import Player, assert_ledger_ok, balance, player
from tests.support.api import Client
from tests.support.events import events_until

STAKE = 100  # KES


async def seat_players(
    client: Client, runtime: Runtime, count: int, max_players: int | None = None
) -> tuple[list[Player], int]:
    players = [await player(client, runtime) for _ in range(count)]
    room_id = None
    for who in players:
        response = await client.post(
            "/games/join",
            headers=who.headers,
            json={"stake": STAKE, "max_players": max_players or count},
        )
        assert response.status_code == 200, response.text
        room_id = response.json()["roulette_id"]
    assert room_id is not None
    return players, room_id


async def room_state(client: Client, room_id: int) -> dict[str, Any]:
    state: dict[str, Any] = (await client.get(f"/games/roulette/{room_id}")).json()
    return state


async def play_to_the_end(
    client: Client, players: list[Player], room_id: int
) -> list[dict[str, Any]]:
    by_id = {p.id: p for p in players}
    pulls = []
    while True:
        state = await room_state(client, room_id)
        if state["status"] != "playing":
            return pulls
        shooter = by_id[state["next_player"]]
        response = await client.post(
            "/games/pull-trigger", headers=shooter.headers, json={"roulette_id": room_id}
        )
        assert response.status_code == 200, response.text
        pulls.append(response.json())


@pytest.mark.parametrize("size", [2, 3])
async def test_a_whole_game_pays_the_survivors_the_pot_less_rake(
    client: Client, runtime: Runtime, size: int
) -> None:
    players, room_id = await seat_players(client, runtime, size)
    state = await room_state(client, room_id)
    assert state["status"] == "playing"
    assert [p["seat"] for p in state["players"]] == list(range(size))
    assert state["pot"] == STAKE * size
    assert state["seed"] is None
    pulls = await play_to_the_end(client, players, room_id)
    assert [p["chamber"] for p in pulls] == list(range(1, len(pulls) + 1))
    assert [p["is_hit"] for p in pulls] == [False] * (len(pulls) - 1) + [True]
    assert pulls[-1]["game_over"] is True
    assert pulls[-1]["next_player"] is None

    final = await room_state(client, room_id)
    assert final["status"] == "finished"
    assert fairness.seed_hash(final["seed"]) == final["seed_hash"]
    chamber = fairness.bullet_chamber(final["seed"])
    assert final["bullet_chamber"] == chamber == len(pulls)
    eliminated = final["eliminated_player"]
    assert eliminated == final["players"][(chamber - 1) % size]["user_id"]
    pot = STAKE * size * 100
    share = (pot - pot * 5 // 100) // (size - 1)
    for who in players:
        expected = 1000 - STAKE + (0 if who.id == eliminated else share / 100)
        assert await balance(client, who) == expected
    async with runtime.db.unit_of_work() as session:
        stats = {
            s.user_id: s
            for s in (await session.execute(select(Stats))).scalars()
            if s.user_id in {p.id for p in players}
        }
    assert stats[eliminated].loss_count == 1
    assert stats[eliminated].earnings == -STAKE * 100
    for who in players:
        if who.id != eliminated:
            assert stats[who.id].win_count == 1
            assert stats[who.id].earnings == share - STAKE * 100
    await assert_ledger_ok(runtime)


async def test_only_the_player_whose_turn_it_is_may_pull(client: Client, runtime: Runtime) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    state = await room_state(client, room_id)
    waiting = next(p for p in players if p.id != state["next_player"])
    out_of_turn = await client.post(
        "/games/pull-trigger", headers=waiting.headers, json={"roulette_id": room_id}
    )
    assert out_of_turn.status_code == 409
    assert out_of_turn.json() == {"error": "NotYourTurn", "detail": "It is not your turn"}
    stranger = await player(client, runtime)
    not_a_player = await client.post(
        "/games/pull-trigger", headers=stranger.headers, json={"roulette_id": room_id}
    )
    assert not_a_player.status_code == 403
    assert not_a_player.json()["error"] == "NotARoomPlayer"
    assert (await room_state(client, room_id))["chambers_pulled"] == 0


async def test_no_pull_before_the_start_or_after_the_end(client: Client, runtime: Runtime) -> None:
    first = await player(client, runtime)
    joined = (await client.post("/games/join", headers=first.headers, json={"stake": 20})).json()
    assert joined["status"] == "waiting"
    early = await client.post(
        "/games/pull-trigger", headers=first.headers, json={"roulette_id": joined["roulette_id"]}
    )
    assert early.status_code == 409
    assert early.json()["error"] == "GameNotInProgress"
    assert early.json()["room_status"] == "waiting"
    players, room_id = await seat_players(client, runtime, 2)
    await play_to_the_end(client, players, room_id)
    late = await client.post(
        "/games/pull-trigger", headers=players[0].headers, json={"roulette_id": room_id}
    )
    assert late.status_code == 409
    assert late.json()["error"] == "GameNotInProgress"
    assert late.json()["room_status"] == "finished"


async def test_an_absent_players_turn_is_pulled_for_them(client: Client, runtime: Runtime) -> None:
    _, room_id = await seat_players(client, runtime, 2)
    state = await room_state(client, room_id)
    assert await pull_overdue_turns(runtime) == 0  # nobody is late yet
    later = runtime.clock.now() + timedelta(seconds=31)
    assert await pull_overdue_turns(runtime, later) == 1
    after = await room_state(client, room_id)
    assert after["chambers_pulled"] == 1
    assert after["status"] == "finished" or after["next_player"] != state["next_player"]
    await assert_ledger_ok(runtime)


async def test_the_turn_clock_runs_in_the_background(app_factory: Any) -> None:
    clock = ManualClock()
    async with app_factory(clock=clock, game_jobs_interval_seconds=0.05) as client:
        runtime: Runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
        _, room_id = await seat_players(client, runtime, 2)
        room = await runtime.events.open([room_topic(room_id)])
        state = await room_state(client, room_id)
        while state["status"] == "playing":
            # Each turn runs out on the runtime's clock; the background job, by itself,
            # then pulls for the absent player.
            clock.advance(runtime.settings.roulette_turn_seconds)
            (*_, pull) = await events_until(room, "trigger_result")
            assert pull.data["forced"] is True
            state = await room_state(client, room_id)
        runtime.events.unsubscribe(room)
        final = state
        assert final["status"] == "finished"
        assert final["chambers_pulled"] == final["bullet_chamber"]
        await assert_ledger_ok(runtime)


async def test_leaving_before_the_start_refunds_the_stake(client: Client, runtime: Runtime) -> None:
    first = await player(client, runtime)
    second = await player(client, runtime)
    room_id = (
        await client.post(
            "/games/join", headers=first.headers, json={"stake": STAKE, "max_players": 3}
        )
    ).json()["roulette_id"]
    await client.post(
        "/games/join", headers=second.headers, json={"stake": STAKE, "max_players": 3}
    )
    assert await balance(client, first) == 1000 - STAKE
    left = await client.post("/games/leave", headers=first.headers, json={"roulette_id": room_id})
    assert left.status_code == 200
    assert left.json() == {"status": "success", "roulette_id": room_id, "refunded": STAKE,
                           "forfeited": False}  # fmt: skip
    assert await balance(client, first) == 1000
    state = await room_state(client, room_id)
    assert [p["user_id"] for p in state["players"]] == [second.id]
    # The freed seat is taken by the next player, and the room fills.
    third = await player(client, runtime)
    fourth = await player(client, runtime)
    for who in (third, fourth):
        await client.post(
            "/games/join", headers=who.headers, json={"stake": STAKE, "max_players": 3}
        )
    state = await room_state(client, room_id)
    assert state["status"] == "playing"
    assert sorted(p["seat"] for p in state["players"]) == [0, 1, 2]
    await client.post("/games/leave", headers=second.headers, json={"roulette_id": room_id})
    await assert_ledger_ok(runtime)


async def test_the_last_player_leaving_cancels_the_room(client: Client, runtime: Runtime) -> None:
    alone = await player(client, runtime)
    room_id = (
        await client.post("/games/join", headers=alone.headers, json={"stake": STAKE})
    ).json()["roulette_id"]
    await client.post("/games/leave", headers=alone.headers, json={"game_id": room_id})
    state = await room_state(client, room_id)
    assert state["status"] == "cancelled"
    assert state["seed"] is not None
    assert await balance(client, alone) == 1000
    again = await client.post("/games/leave", headers=alone.headers, json={"roulette_id": room_id})
    assert again.status_code == 404


async def test_leaving_during_the_game_forfeits(client: Client, runtime: Runtime) -> None:
    players, room_id = await seat_players(client, runtime, 3)
    quitter = players[1]
    left = await client.post("/games/leave", headers=quitter.headers, json={"roulette_id": room_id})
    assert left.json()["forfeited"] is True
    state = await room_state(client, room_id)
    assert state["status"] == "finished"
    assert state["end_reason"] == "forfeit"
    assert state["eliminated_player"] == quitter.id
    assert await balance(client, quitter) == 1000 - STAKE
    share = (STAKE * 3 * 100 * 95 // 100) // 2 / 100
    for who in (players[0], players[2]):
        assert await balance(client, who) == 1000 - STAKE + share
    await assert_ledger_ok(runtime)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [({"stake": STAKE, "max_players": 4}, 422, "RoomSizeNotAllowed"),
     ({"stake": STAKE, "max_players": 5}, 422, "RoomSizeNotAllowed"),
     ({"stake": 5}, 422, "StakeOutOfRange"), ({"stake": -100}, 422, "ValidationError"),
     ({"stake": "abc"}, 422, "ValidationError"), ({"max_players": "two"}, 422, "ValidationError"),
     ({"stake": STAKE, "game_id": 999}, 404, "NotPlayedInRooms")],
)  # fmt: skip
async def test_bad_joins_are_refused(
    client: Client, runtime: Runtime, body: dict[str, Any], status: int, code: str
) -> None:
    me = await player(client, runtime)
    response = await client.post("/games/join", headers=me.headers, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert await balance(client, me) == 1000


async def test_joining_without_funds_is_409(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime, 1_000)
    response = await client.post("/games/join", headers=me.headers, json={"stake": 50})
    assert response.status_code == 409
    assert response.json()["error"] == "InsufficientFunds"


async def test_the_seeds_game_id_body_joins_at_the_minimum_stake(
    client: Client, runtime: Runtime
) -> None:
    me = await player(client, runtime)
    response = await client.post(
        "/games/join", headers=me.headers, json={"game_id": "russian-roulette"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["stake"] == 10


async def test_fifty_simultaneous_joins_fill_rooms_of_exactly_two(
    client: Client, runtime: Runtime
) -> None:
    players = [await player(client, runtime, 100_000) for _ in range(50)]
    statuses: list[int] = []

    async def join(who: Player) -> None:
        response = await client.post(
            "/games/join", headers=who.headers, json={"stake": STAKE, "max_players": 2}
        )
        statuses.append(response.status_code)

    async with anyio.create_task_group() as group:
        for who in players:
            group.start_soon(join, who)
    assert statuses == [200] * 50
    async with runtime.db.unit_of_work() as session:
        rooms = (await session.execute(select(RouletteRoom))).scalars().all()
        seats = (await session.execute(select(RouletteSeat))).scalars().all()
    assert len(rooms) == 25
    assert all(r.status == "playing" for r in rooms)
    per_room: dict[int, int] = {}
    for seat in seats:
        per_room[seat.room_id] = per_room.get(seat.room_id, 0) + 1
    assert set(per_room.values()) == {2}
    for who in players:
        assert await balance(client, who) == 1000 - STAKE
    await assert_ledger_ok(runtime)
