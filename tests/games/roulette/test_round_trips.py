"""The SQL round trips of a whole 2-player Russian Roulette game on PostgreSQL, pinned.

Counted, not timed: every statement the requests send plus each BEGIN and COMMIT, so
that a change which brings back a re-read, a flush per row or a commit mid-request
fails here. A change that removes round trips lowers the pins.
"""

from __future__ import annotations

from typing import Any

import pytest

from gamehub.core.runtime import Runtime
from tests.games.support import assert_ledger_ok, player
from tests.support.api import Client
from tests.support.round_trips import round_trips

# A join that opens a room; one that fills it and starts the game; a pull that misses;
# the pull that hits and settles the game.
# Each join also reads the player's protection standing (date of birth, controls, limits)
# before it stakes: three of its statements.
PINNED = {"open": 14, "fill": 14, "miss": 3, "hit": 14}


async def test_a_two_player_game_makes_its_pinned_round_trips(
    app_factory: Any, backend_name: str
) -> None:
    if backend_name != "postgresql":
        pytest.skip("pinned on PostgreSQL; SQLite and MariaDB take the generic path")
    # No games clock: only the requests' own statements are counted.
    async with app_factory(game_jobs_interval_seconds=0) as client:
        runtime: Runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
        first, second = await player(client, runtime), await player(client, runtime)
        # In steady play a caller's credential state is cached: one look-up each first.
        for who in (first, second):
            assert (await client.get("/wallet", headers=who.headers)).status_code == 200
        # The overall leaderboard, whose ranks players hear after each game, is built
        # once, by its first reader.
        assert (await client.get("/leaderboard")).status_code == 200
        # The lobby row of this kind of room is opened once, by the first join ever.
        warm_up = await player(client, runtime)
        opened = await post(client, warm_up.headers, "/games/join", {"stake": 10})
        await post(client, warm_up.headers, "/games/leave", {"roulette_id": opened["roulette_id"]})

        counted: dict[str, list[list[str]]] = {"open": [], "fill": [], "miss": [], "hit": []}

        async def counting(kind: str | None, who: Any, path: str, body: Any) -> dict[str, Any]:
            with round_trips(runtime) as sent:
                answer = await post(client, who.headers, path, body)
            counted[kind or ("hit" if answer["game_over"] else "miss")].append(sent)
            return answer

        joined = await counting("open", first, "/games/join", {"stake": 10})
        await counting("fill", second, "/games/join", {"stake": 10})
        room = {"roulette_id": joined["roulette_id"]}
        by_id = {first.id: first, second.id: second}
        shooter = first
        while not (pulled := await counting(None, shooter, "/games/pull-trigger", room))[
            "game_over"
        ]:
            shooter = by_id[pulled["next_player"]]

        # A game whose first pull hits has no miss to count.
        played = {kind: sents for kind, sents in counted.items() if sents}
        made = {kind: sorted({len(sent) for sent in sents}) for kind, sents in played.items()}
        shown = "\n".join(
            f"{kind}:\n  " + "\n  ".join(line[:90] for line in sents[0])
            for kind, sents in played.items()
        )
        assert made == {kind: [PINNED[kind]] for kind in played}, shown
        await assert_ledger_ok(runtime)


async def post(client: Client, headers: dict[str, str], path: str, body: Any) -> dict[str, Any]:
    response = await client.post(path, headers=headers, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer
