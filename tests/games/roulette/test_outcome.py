"""What a roulette player is told: the final pull's outcome, and every movement of their
money as a transaction_update, as the wallet lists it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio

from gamehub.core.events import Event, Subscription, user_topic
from gamehub.core.runtime import Runtime
from tests.games.roulette.test_game import STAKE, play_to_the_end, seat_players
from tests.games.support import balance, player
from tests.support.api import Client


async def movements(subscription: Subscription, count: int) -> list[dict[str, Any]]:
    """The first ``count`` transaction_update events the subscription hears."""
    heard: list[Event] = []
    with anyio.fail_after(5):
        while len(heard) < count:
            event = await subscription.get()
            if event is not None and event.name == "transaction_update":
                heard.append(event)
    return [dict(e.data) for e in heard]


def as_listed(items: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keys = ("id", "category", "amount", "balance_after", "reference", "description")
    return sorted(tuple(item[k] for k in keys) for item in items)


async def test_the_final_pull_answers_what_it_paid_and_the_new_balance(
    client: Client, runtime: Runtime
) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    pulls = await play_to_the_end(client, players, room_id)
    for pull in pulls[:-1]:
        assert (pull["payout"], pull["new_balance"]) == (None, None)
    final = pulls[-1]
    # A hit eliminates whoever pulled it: the pot pays them nothing.
    state = (await client.get(f"/games/roulette/{room_id}")).json()
    eliminated = next(p for p in players if p.id == state["eliminated_player"])
    assert final["payout"] == 0
    assert final["new_balance"] == await balance(client, eliminated) == 1000 - STAKE


async def test_every_roulette_movement_reaches_its_owner_as_the_wallet_lists_it(
    client: Client, runtime: Runtime
) -> None:
    players = [await player(client, runtime) for _ in range(2)]
    bettor = await player(client, runtime)
    subscriptions = {
        who.id: await runtime.events.open([user_topic(who.id)]) for who in [*players, bettor]
    }
    try:
        room_id = None
        for who in players:
            joined = await client.post(
                "/games/join", headers=who.headers, json={"stake": STAKE, "max_players": 2}
            )
            room_id = joined.json()["roulette_id"]
        placed = await client.post(
            "/games/place-bet",
            headers=bettor.headers,
            json={
                "roulette_id": room_id,
                "player_id": players[0].id,
                "bet_type": "survival",
                "bet_amount": 10,
            },
        )
        assert placed.status_code == 200, placed.text
        assert room_id is not None
        await play_to_the_end(client, players, room_id)
        for who in [*players, bettor]:
            listed = (await client.get("/wallet/transactions", headers=who.headers)).json()
            # The test's funding was posted before anyone listened, by a tool without a
            # bus; every movement of the game since is told, exactly as listed.
            played = [i for i in listed["items"] if i["category"] != "adjustment"]
            heard = await movements(subscriptions[who.id], len(played))
            assert as_listed(heard) == as_listed(played)
            assert {e["currency"] for e in heard} == {"KES"}
            assert heard[-1]["balance_after"] == await balance(client, who)
        kinds = {i["reference"].split(":")[0] for i in played}
        # The bettor's side bet: its stake, then its payout or nothing if it lost.
        assert "roulette-side-bet-stake" in kinds
    finally:
        for subscription in subscriptions.values():
            runtime.events.unsubscribe(subscription)
