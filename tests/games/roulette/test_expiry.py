"""Rooms that never fill are cancelled and refunded; side bettors may take their bets
back while a room waits. Every refund happens once, through the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import select, update

from gamehub.core.events import Event, Subscription, room_topic, user_topic
from gamehub.core.runtime import Runtime
from gamehub.games.tasks import expire_waiting_rooms, tick
from gamehub.models import Bet, RouletteRoom
from tests.games.roulette.test_game import STAKE, room_state, seat_players
from tests.games.support import Player, assert_ledger_ok, balance, player
from tests.support.api import Client

WAITING_ROOM_SECONDS = 600  # the default


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def open_room(client: Client, runtime: Runtime, seated: int = 2) -> tuple[list[Player], int]:
    """A room for three with ``seated`` players: it waits."""
    return await seat_players(client, runtime, seated, max_players=3)


async def side_bet(
    client: Client, who: Player, room_id: int, target: Player, amount: int = 30
) -> dict[str, Any]:
    response = await client.post(
        "/games/place-bet",
        headers=who.headers,
        json={"roulette_id": room_id, "player_id": target.id, "bet_type": "survival",
              "bet_amount": amount},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@asynccontextmanager
async def listening(runtime: Runtime, topics: Sequence[str]) -> AsyncIterator[Subscription]:
    subscription = await runtime.events.open(topics)
    try:
        yield subscription
    finally:
        runtime.events.unsubscribe(subscription)


async def next_named(subscription: Subscription, name: str) -> Event:
    with anyio.fail_after(10):
        while True:
            event = await subscription.get()
            if event is not None and event.name == name:
                return event


async def test_a_room_that_does_not_fill_in_time_is_cancelled_and_everyone_refunded(
    client: Client, runtime: Runtime
) -> None:
    players, room_id = await open_room(client, runtime)
    fan = await player(client, runtime)
    await side_bet(client, fan, room_id, players[0])
    await side_bet(client, fan, room_id, players[1], amount=20)
    assert await balance(client, fan) == 1000 - 50
    assert await expire_waiting_rooms(runtime, later(WAITING_ROOM_SECONDS - 5)) == 0
    assert (await room_state(client, room_id))["status"] == "waiting"

    topics = [room_topic(room_id), *(user_topic(who.id) for who in (*players, fan))]
    async with listening(runtime, topics) as events:
        assert await expire_waiting_rooms(runtime, later(WAITING_ROOM_SECONDS + 1)) == 1
        cancelled = await next_named(events, "room_cancelled")
    assert set(cancelled.topics) == set(topics)
    assert cancelled.data == {
        "roulette_id": room_id,
        "reason": "expired",
        "refunds": {str(players[0].id): STAKE, str(players[1].id): STAKE, str(fan.id): 50},
    }

    for who in (*players, fan):
        assert await balance(client, who) == 1000
    state = await room_state(client, room_id)
    assert state["status"] == "cancelled"
    assert state["end_reason"] == "expired"
    assert state["pot"] == 0
    assert {b["status"] for b in state["side_bets"]} == {"refunded"}
    assert {p["status"] for p in state["players"]} == {"left"}
    # Refunded once: the next round finds nothing to do, and nobody can leave it.
    assert await expire_waiting_rooms(runtime, later(WAITING_ROOM_SECONDS + 60)) == 0
    left = await client.post(
        "/games/leave", headers=players[0].headers, json={"roulette_id": room_id}
    )
    assert left.status_code == 404
    assert left.json()["error"] == "NotInRoom"
    assert await balance(client, players[0]) == 1000
    await assert_ledger_ok(runtime)


async def test_two_workers_cancel_a_stale_room_once(client: Client, runtime: Runtime) -> None:
    players, room_id = await open_room(client, runtime)
    fan = await player(client, runtime)
    await side_bet(client, fan, room_id, players[0])
    expired: list[int] = []

    async def worker() -> None:
        expired.append(await expire_waiting_rooms(runtime, later(WAITING_ROOM_SECONDS + 1)))

    async with anyio.create_task_group() as group:
        group.start_soon(worker)
        group.start_soon(worker)
    assert sorted(expired) == [0, 1]
    for who in (*players, fan):
        assert await balance(client, who) == 1000
    await assert_ledger_ok(runtime)


async def test_a_room_that_filled_does_not_expire(client: Client, runtime: Runtime) -> None:
    _, room_id = await seat_players(client, runtime, 2)
    # Long past both clocks: the turn clock pulls, the room is never cancelled.
    pulled, expired = await tick(runtime, later(WAITING_ROOM_SECONDS + 1))
    assert (pulled, expired) == (1, 0)
    assert (await room_state(client, room_id))["status"] in ("playing", "finished")
    await assert_ledger_ok(runtime)


async def test_a_newcomer_does_not_join_a_room_about_to_expire(app_factory: Any) -> None:
    # The background clock is off: this test backdates a room, and runs the clock itself.
    async with app_factory(game_jobs_interval_seconds=0) as client:
        runtime: Runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
        players, stale_room = await open_room(client, runtime, seated=1)
        async with runtime.db.unit_of_work() as session:
            opened = datetime.now(UTC) - timedelta(seconds=WAITING_ROOM_SECONDS + 1)
            await session.execute(
                update(RouletteRoom).where(RouletteRoom.id == stale_room).values(created_at=opened)
            )
        newcomer = await player(client, runtime)
        joined = await client.post(
            "/games/join", headers=newcomer.headers, json={"stake": STAKE, "max_players": 3}
        )
        assert joined.json()["roulette_id"] != stale_room
        assert await expire_waiting_rooms(runtime) == 1
        assert await balance(client, players[0]) == 1000
        assert (await room_state(client, joined.json()["roulette_id"]))["status"] == "waiting"
        await assert_ledger_ok(runtime)


async def test_the_games_clock_expires_rooms_in_the_background(app_factory: Any) -> None:
    quick = {"roulette_waiting_room_seconds": 1, "game_jobs_interval_seconds": 0.1}
    async with app_factory(**quick) as client:
        runtime: Runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
        alone = await player(client, runtime)
        async with listening(runtime, [user_topic(alone.id)]) as events:
            joined = await client.post(
                "/games/join", headers=alone.headers, json={"stake": STAKE, "max_players": 3}
            )
            cancelled = await next_named(events, "room_cancelled")
        assert cancelled.data["roulette_id"] == joined.json()["roulette_id"]
        assert await balance(client, alone) == 1000
        await assert_ledger_ok(runtime)


async def test_side_bettors_hear_when_the_last_player_leaves(
    client: Client, runtime: Runtime
) -> None:
    players, room_id = await open_room(client, runtime, seated=1)
    fan = await player(client, runtime)
    await side_bet(client, fan, room_id, players[0])
    async with listening(runtime, [user_topic(fan.id)]) as events:
        await client.post("/games/leave", headers=players[0].headers, json={"roulette_id": room_id})
        cancelled = await next_named(events, "room_cancelled")
    assert cancelled.data == {"roulette_id": room_id, "reason": "abandoned",
                              "refunds": {str(players[0].id): STAKE, str(fan.id): 30}}  # fmt: skip
    assert await balance(client, fan) == 1000
    await assert_ledger_ok(runtime)


# Side bettors taking their bets back


async def test_a_side_bettor_leaving_a_waiting_room_gets_their_bets_back(
    client: Client, runtime: Runtime
) -> None:
    players, room_id = await open_room(client, runtime)
    fan = await player(client, runtime)
    other_fan = await player(client, runtime)
    await side_bet(client, fan, room_id, players[0])
    await side_bet(client, fan, room_id, players[1], amount=20)
    await side_bet(client, other_fan, room_id, players[0], amount=10)
    async with listening(runtime, [user_topic(players[0].id), room_topic(room_id)]) as events:
        left = await client.post("/games/leave", headers=fan.headers, json={"roulette_id": room_id})
        assert left.status_code == 200, left.text
        heard = await next_named(events, "bet_cancelled")
    assert left.json() == {"status": "success", "roulette_id": room_id, "refunded": 50,
                           "forfeited": False}  # fmt: skip
    assert heard.data["user_id"] == fan.id
    assert await balance(client, fan) == 1000
    # Only the leaver's bets, and only once.
    assert await balance(client, other_fan) == 1000 - 10
    again = await client.post("/games/leave", headers=fan.headers, json={"roulette_id": room_id})
    assert again.status_code == 404
    assert await balance(client, fan) == 1000
    state = await room_state(client, room_id)
    assert [p["user_id"] for p in state["players"]] == [players[0].id, players[1].id]
    await assert_ledger_ok(runtime)


async def test_side_bets_stay_once_the_game_has_started(client: Client, runtime: Runtime) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    fan = await player(client, runtime)
    placed = await side_bet(client, fan, room_id, players[0])
    left = await client.post("/games/leave", headers=fan.headers, json={"roulette_id": room_id})
    assert left.status_code == 409
    assert left.json()["error"] == "RoomNotWaiting"
    assert left.json()["room_status"] == "playing"
    cancel = await client.post(
        "/games/cancel-bet", headers=fan.headers, json={"bet_id": placed["bet_id"]}
    )
    assert cancel.status_code == 409
    assert await balance(client, fan) == 1000 - 30
    assert (await room_state(client, room_id))["status"] == "playing"


async def test_a_side_bet_is_cancelled_once(client: Client, runtime: Runtime) -> None:
    players, room_id = await open_room(client, runtime)
    fan = await player(client, runtime)
    kept = await side_bet(client, fan, room_id, players[1], amount=10)
    placed = await side_bet(client, fan, room_id, players[0])
    statuses: list[int] = []

    async def cancel() -> None:
        response = await client.post(
            "/games/cancel-bet", headers=fan.headers, json={"bet_id": placed["bet_id"]}
        )
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert response.json() == {"status": "success", "bet_id": placed["bet_id"],
                                       "roulette_id": room_id, "refunded": 30,
                                       "new_balance": 1000 - 10}  # fmt: skip
        else:
            assert response.json()["error"] == "BetNotOpen"

    async with anyio.create_task_group() as group:
        group.start_soon(cancel)
        group.start_soon(cancel)
    assert sorted(statuses) == [200, 409]
    assert await balance(client, fan) == 1000 - 10
    bets = {b["bet_id"]: b["status"] for b in (await room_state(client, room_id))["side_bets"]}
    assert bets == {kept["bet_id"]: "open", placed["bet_id"]: "refunded"}
    # Expiry later refunds what is still open, and only that.
    assert await expire_waiting_rooms(runtime, later(WAITING_ROOM_SECONDS + 1)) == 1
    assert await balance(client, fan) == 1000
    await assert_ledger_ok(runtime)


async def test_only_ones_own_side_bet_can_be_cancelled(client: Client, runtime: Runtime) -> None:
    players, room_id = await open_room(client, runtime)
    fan = await player(client, runtime)
    placed = await side_bet(client, fan, room_id, players[0])
    async with runtime.db.unit_of_work() as session:
        stake_bet = (
            await session.execute(
                select(Bet.id).where(Bet.user_id == players[0].id, Bet.room_id == room_id)
            )
        ).scalar_one()
    stranger = await player(client, runtime)
    for who, bet_id in (
        (stranger, placed["bet_id"]),
        (players[0], placed["bet_id"]),
        (fan, 999_999),
        # A stake is not a side bet: a player leaves instead.
        (players[0], stake_bet),
    ):
        response = await client.post("/games/cancel-bet", headers=who.headers,
                                     json={"bet_id": bet_id})  # fmt: skip
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "SideBetNotFound"
    bad = await client.post("/games/cancel-bet", headers=fan.headers, json={"bet_id": "one"})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "bet_id: must be a whole number, not text"
    assert await balance(client, fan) == 1000 - 30
    assert await balance(client, players[0]) == 1000 - STAKE


async def test_cancel_bet_honours_idempotency_key(client: Client, runtime: Runtime) -> None:
    players, room_id = await open_room(client, runtime)
    fan = await player(client, runtime)
    placed = await side_bet(client, fan, room_id, players[0])
    headers = {**fan.headers, "Idempotency-Key": "cancel-once"}
    body = {"bet_id": placed["bet_id"]}
    first = await client.post("/games/cancel-bet", headers=headers, json=body)
    again = await client.post("/games/cancel-bet", headers=headers, json=body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await balance(client, fan) == 1000


async def test_a_cancellation_racing_the_rooms_expiry_refunds_once(
    client: Client, runtime: Runtime
) -> None:
    players, room_id = await open_room(client, runtime)
    fan = await player(client, runtime)
    placed = await side_bet(client, fan, room_id, players[0])
    outcomes: dict[str, Any] = {}

    async def cancel() -> None:
        response = await client.post(
            "/games/cancel-bet", headers=fan.headers, json={"bet_id": placed["bet_id"]}
        )
        outcomes["cancel"] = response.status_code

    async def expire() -> None:
        outcomes["expired"] = await expire_waiting_rooms(runtime, later(WAITING_ROOM_SECONDS + 1))

    async with anyio.create_task_group() as group:
        group.start_soon(cancel)
        group.start_soon(expire)
    # Whichever took the room's lock first refunded the bet; the other found it refunded.
    assert outcomes["expired"] == 1
    assert outcomes["cancel"] in (200, 409)
    assert await balance(client, fan) == 1000
    for who in players:
        assert await balance(client, who) == 1000
    await assert_ledger_ok(runtime)
