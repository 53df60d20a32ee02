"""What the streams carry is what docs/events.md says: every event a whole game sends a
player (the leaderboard's move included, published outside the games' own path) fits a
form its catalogue entry lists."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec

from gamehub.core.events import user_topic
from gamehub.core.runtime import Runtime
from gamehub.realtime.events import CATALOG
from tests.games.roulette.test_game import play_to_the_end, seat_players
from tests.games.support import player
from tests.support.api import Client

FORMS = {spec.name: spec.forms for spec in CATALOG}


def fits(name: str, data: Any) -> bool:
    for form in FORMS[name]:
        try:
            msgspec.convert(data, form)
        except msgspec.ValidationError:
            continue
        return True
    return False


async def test_every_event_of_a_spin_fits_its_documented_form(
    client: Client, runtime: Runtime
) -> None:
    me = await player(client, runtime)
    subscription = await runtime.events.open([user_topic(me.id)])
    spun = await client.post(
        "/games/spin-and-win/play", headers=me.headers, json={"bet_amount": 10}
    )
    assert spun.status_code == 200
    expected = {"transaction_update", "bet_update", "leaderboard_update"}
    received: list[Any] = []
    with anyio.fail_after(10):
        while not expected <= {e.name for e in received}:
            event = await subscription.get()
            if event is not None:  # None: a quiet interval, where a heartbeat would go
                received.append(event)
    runtime.events.unsubscribe(subscription)
    assert [e.name for e in received if not fits(e.name, e.data)] == []


async def test_every_event_of_a_game_fits_its_documented_form(
    client: Client, runtime: Runtime
) -> None:
    players, room_id = await seat_players(client, runtime, 2)
    subscription = await runtime.events.open([user_topic(players[0].id)])
    await play_to_the_end(client, players, room_id)
    received: list[Any] = []
    with anyio.fail_after(10):
        while not received or received[-1].name != "leaderboard_update":
            event = await subscription.get()
            if event is not None:  # None: a quiet interval, where a heartbeat would go
                received.append(event)
    runtime.events.unsubscribe(subscription)
    names = [e.name for e in received]
    assert {"trigger_result", "game_result", "leaderboard_update"} <= set(names)
    assert [e.name for e in received if not fits(e.name, e.data)] == []
