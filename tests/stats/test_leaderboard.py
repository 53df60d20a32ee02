"""Leaderboards: ties, pages, periods, games, one's own rank, rebuilds and snapshots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gamehub.cli import main
from gamehub.core.events import user_topic
from gamehub.models import LeaderboardSnapshot
from gamehub.models.base import utcnow
from gamehub.settings import get_settings
from gamehub.stats.boards import Period, board
from gamehub.stats.leaderboard import take_snapshot
from tests.stats.support import Player, forget_redis_or_memory, players, settle
from tests.support.apps import Served, served


@pytest.fixture
async def api(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    """Uncached pages, so that every read shows the boards as they are."""
    async with served(database_url, redis_url, leaderboard_cache_seconds=0) as running:
        yield running


async def top(api: Served, **query: Any) -> list[dict[str, Any]]:
    response = await api.client.get("/leaderboard", params=query)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def ranks(rows: list[dict[str, Any]]) -> list[tuple[int, str, float]]:
    return [(r["rank"], r["username"], r["earnings"]) for r in rows]


async def five_players(api: Served) -> list[Player]:
    """Earnings 5.00, 3.00, 3.00, 1.00 and -2.00; the last lost twice."""
    a, b, c, d, e = await players(api.client, 5)
    await settle(api.runtime, [(a, 500, True), (b, 300, True), (c, 300, True)])
    await settle(api.runtime, [(d, 100, True), (e, -100, False)])
    await settle(api.runtime, [(e, -100, False)])
    return [a, b, c, d, e]


async def test_ties_share_a_rank_in_the_seed_shape(api: Served) -> None:
    a, b, c, d, e = await five_players(api)
    rows = await top(api)
    assert set(rows[0]) >= {"rank", "username", "win_count", "loss_count", "earnings"}
    # Among equals, the newer account is listed first.
    assert ranks(rows) == [
        (1, a.username, 5.0),
        (2, c.username, 3.0),
        (2, b.username, 3.0),
        (4, d.username, 1.0),
        (5, e.username, -2.0),
    ]
    assert (rows[-1]["win_count"], rows[-1]["loss_count"]) == (0, 2)
    assert (rows[0]["win_count"], rows[0]["loss_count"]) == (1, 0)


async def test_pages_keep_ranks_across_their_edges(api: Served) -> None:
    a, b, c, d, e = await five_players(api)
    assert ranks(await top(api, limit=2)) == [(1, a.username, 5.0), (2, c.username, 3.0)]
    # A page that starts inside a tie keeps the tie's rank.
    assert ranks(await top(api, limit=2, offset=2)) == [(2, b.username, 3.0), (4, d.username, 1.0)]
    assert ranks(await top(api, limit=2, offset=4)) == [(5, e.username, -2.0)]
    assert await top(api, offset=5) == []
    assert len(await top(api)) == 5


async def test_limits_are_checked(api: Served) -> None:
    for query in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"period": "year"}, {"game": "X!"}):
        response = await api.client.get("/leaderboard", params=query)
        assert response.status_code in (400, 422), query
        assert "error" in response.json()


async def test_periods_and_games_have_boards_of_their_own(api: Served) -> None:
    veteran, rookie, spinner = await players(api.client, 3)
    long_ago = utcnow() - timedelta(days=40)
    await settle(api.runtime, [(veteran, 10_000, True)], at=long_ago)
    await settle(api.runtime, [(rookie, 200, True), (veteran, -50, False)])
    await settle(api.runtime, [(spinner, 300, True)], game="russian-roulette")

    assert ranks(await top(api)) == [
        (1, veteran.username, 99.5),
        (2, spinner.username, 3.0),
        (3, rookie.username, 2.0),
    ]
    for period in ("day", "week", "month"):
        assert ranks(await top(api, period=period)) == [
            (1, spinner.username, 3.0),
            (2, rookie.username, 2.0),
            (3, veteran.username, -0.5),
        ], period
    today = await top(api, period="day", game="spin-and-win")
    assert ranks(today) == [(1, rookie.username, 2.0), (2, veteran.username, -0.5)]
    # Counts are the board's: today the veteran has only lost.
    assert (today[1]["win_count"], today[1]["loss_count"]) == (0, 1)
    assert ranks(await top(api, game="spin-and-win")) == [
        (1, veteran.username, 99.5),
        (2, rookie.username, 2.0),
    ]
    # A game nobody knows has no board: a mistake, not an empty one.
    unknown = await api.client.get("/leaderboard", params={"game": "no-such-game"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"].startswith("game: no such game")


async def test_a_ready_board_follows_each_settled_game(api: Served) -> None:
    a, b = await players(api.client, 2)
    await settle(api.runtime, [(a, 100, True)])
    assert ranks(await top(api)) == [(1, a.username, 1.0)]
    await settle(api.runtime, [(b, 250, True), (a, -50, False)])
    assert ranks(await top(api)) == [(1, b.username, 2.5), (2, a.username, 0.5)]
    # A draw that moved nothing puts nobody on a board.
    (c,) = await players(api.client, 1)
    await settle(api.runtime, [(c, 0, None)])
    assert len(await top(api)) == 2


async def test_boards_lost_from_redis_are_rebuilt_before_anyone_is_answered(api: Served) -> None:
    a, b, c = await players(api.client, 3)
    await settle(api.runtime, [(a, 500, True), (b, 100, True)])
    day = await top(api, period="day")
    before = await top(api)
    await forget_redis_or_memory(api.runtime)
    # Settled while no board exists: its increments are dropped, the rebuild has it.
    await settle(api.runtime, [(c, 300, True), (b, 100, True)])
    expected = [(1, a.username, 5.0), (2, c.username, 3.0), (3, b.username, 2.0)]
    assert ranks(await top(api)) == expected
    assert ranks(await top(api, period="day")) == expected
    assert len(before) == len(day) == 2
    # And the rebuilt board keeps following new results.
    await settle(api.runtime, [(b, 400, True)])
    assert ranks(await top(api, limit=1)) == [(1, b.username, 6.0)]


async def test_many_readers_of_a_lost_board_wait_for_one_rebuild(api: Served) -> None:
    a, b = await players(api.client, 2)
    await settle(api.runtime, [(a, 200, True), (b, 100, True)])
    await forget_redis_or_memory(api.runtime)
    answers: list[list[tuple[int, str, float]]] = []

    async def read() -> None:
        answers.append(ranks(await top(api)))

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(read)
    assert answers == [[(1, a.username, 2.0), (2, b.username, 1.0)]] * 8


async def test_my_rank_is_exact_with_neighbours(api: Served) -> None:
    a, b, c, _, e = await five_players(api)
    me = await api.client.get("/leaderboard/me", headers=c.headers)
    assert me.status_code == 200
    body = me.json()
    assert (body["rank"], body["earnings"], body["username"]) == (2, 3.0, c.username)
    assert [x["username"] for x in body["above"]] == [a.username]
    assert [(x["rank"], x["username"]) for x in body["below"]] == [(2, b.username)]

    wide = (
        await api.client.get("/leaderboard/me", params={"neighbours": 3}, headers=e.headers)
    ).json()
    assert wide["rank"] == 5
    assert [x["rank"] for x in wide["above"]] == [2, 2, 4]
    assert wide["below"] == []
    assert (wide["win_count"], wide["loss_count"]) == (0, 2)

    (newcomer,) = await players(api.client, 1)
    nobody = (await api.client.get("/leaderboard/me", headers=newcomer.headers)).json()
    assert (nobody["rank"], nobody["earnings"], nobody["above"]) == (None, 0.0, [])
    daily = (
        await api.client.get("/leaderboard/me", params={"period": "day"}, headers=a.headers)
    ).json()
    assert (daily["period"], daily["bucket"]) == ("day", board(Period.DAY, None, utcnow()).bucket)
    assert (await api.client.get("/leaderboard/me")).status_code == 401


async def test_the_top_page_may_be_cached_but_my_rank_is_exact(
    database_url: str, redis_url: str | None
) -> None:
    async with served(database_url, redis_url, leaderboard_cache_seconds=300) as api:
        a, b = await players(api.client, 2)
        await settle(api.runtime, [(a, 100, True)])
        first = await top(api)
        await settle(api.runtime, [(b, 900, True)])
        assert await top(api) == first
        mine = (await api.client.get("/leaderboard/me", headers=b.headers)).json()
        assert (mine["rank"], mine["earnings"]) == (1, 9.0)


async def test_players_hear_their_new_standing(api: Served) -> None:
    a, b = await players(api.client, 2)
    await top(api)  # builds the overall board
    subscription = await api.runtime.events.open([user_topic(b.id)])
    await settle(api.runtime, [(a, 700, True), (b, 200, True)])
    with anyio.fail_after(5):
        event = await subscription.get()
    api.runtime.events.unsubscribe(subscription)
    assert event.name == "leaderboard_update"
    assert event.data == {"games": ["spin-and-win"], "change": 2.0, "rank": 2, "earnings": 2.0}


async def test_players_hear_their_rank_even_before_anyone_read_the_board(api: Served) -> None:
    a, b = await players(api.client, 2)
    await settle(api.runtime, [(a, 700, True)])
    await api.runtime.leaderboards.forget()
    subscription = await api.runtime.events.open([user_topic(b.id)])
    await settle(api.runtime, [(b, 200, True)])
    with anyio.fail_after(5):
        event = await subscription.get()
    api.runtime.events.unsubscribe(subscription)
    assert event.data == {"games": ["spin-and-win"], "change": 2.0, "rank": 2, "earnings": 2.0}


async def test_snapshots_record_the_top_of_each_period(api: Served) -> None:
    a, b = await players(api.client, 2)
    await settle(api.runtime, [(a, 100, True), (b, 100, True)])
    assert await take_snapshot(api.runtime) == 8
    async with api.runtime.db.unit_of_work() as session:
        rows = (await session.execute(select(LeaderboardSnapshot))).scalars().all()
    assert sorted({r.period for r in rows}) == ["all", "day", "month", "week"]
    assert {(r.rank, r.earnings) for r in rows} == {(1, 100)}
    assert {r.user_id for r in rows} == {a.id, b.id}


async def test_the_cli_snapshots_and_refuses_to_rebuild_memory_boards(
    api: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = await players(api.client, 1)
    await settle(api.runtime, [(a, 100, True)])
    monkeypatch.setenv("GAMEHUB_DATABASE_URL", api.runtime.settings.database_url)
    monkeypatch.delenv("GAMEHUB_REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        snapshot = await anyio.to_thread.run_sync(runner.invoke, main, ["leaderboard", "snapshot"])
        assert snapshot.exit_code == 0, snapshot.output
        assert "wrote 4 leaderboard rows" in snapshot.output
        rebuild = await anyio.to_thread.run_sync(runner.invoke, main, ["leaderboard", "rebuild"])
        assert rebuild.exit_code == 1
        assert "GAMEHUB_REDIS_URL" in rebuild.output
    finally:
        get_settings.cache_clear()
