"""One convention on every list route: limit, cursor, since and until in one date
grammar, the next page's cursor in X-Next-Cursor (and in next_cursor where the body is
a page), and a 422 for what a list cannot mean. The seed routes keep their bare lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.matchmaking.support import key
from tests.stats.support import Player, players, settle
from tests.support.apps import Served, served
from tests.wallet.support import fund

# The routes whose rows have a time, and how to read a page's items from their body.
TIMED = {
    "/history": lambda body: body,
    "/wallet/transactions": lambda body: body["items"],
    "/sessions": lambda body: body["items"],
}
EVERY = [*TIMED, "/leaderboard"]


@pytest.fixture
async def api(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    async with served(database_url, redis_url, leaderboard_cache_seconds=0) as running:
        yield running


@pytest.fixture
async def me(api: Served) -> Player:
    (made,) = await players(api.client, 1)
    await fund(api.runtime, made.username, 100_000)
    return made


async def headers_for(api: Served, path: str, me: Player) -> dict[str, str]:
    if path == "/sessions":
        return await key(api.runtime, "matchmaking")
    return me.headers


async def three_rows_on(api: Served, path: str, me: Player) -> None:
    """Three rows on ``path``, made now."""
    for index in range(3):
        if path == "/history":
            response = await api.client.post(
                "/games/spin-and-win/play", headers=me.headers, json={"bet_amount": 10}
            )
            assert response.status_code == 200, response.text
        elif path == "/wallet/transactions":
            await fund(api.runtime, me.username, 100 + index)
        elif path == "/sessions":
            service = await key(api.runtime, "matchmaking")
            body = {"game_id": f"LIST{index}{me.id}", "num_players": 1, "players": [me.id]}
            response = await api.client.post("/update", json=body, headers=service)
            assert response.status_code == 200, response.text
        else:
            (other,) = await players(api.client, 1)
            await settle(api.runtime, [(other, 100 * (index + 1), True)])


@pytest.mark.parametrize("path", EVERY)
async def test_pages_follow_x_next_cursor_to_the_end_without_repeats(
    api: Served, me: Player, path: str
) -> None:
    await three_rows_on(api, path, me)
    headers = await headers_for(api, path, me)
    seen: list[Any] = []
    cursor: str | None = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await api.client.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        items = body if isinstance(body, list) else body["items"]
        assert len(items) <= 2
        seen.extend(str(item) for item in items)
        cursor = response.headers.get("x-next-cursor")
        if isinstance(body, dict):
            # The page object carries the same cursor as the header.
            assert body["next_cursor"] == cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 3


@pytest.mark.parametrize("path", TIMED)
@pytest.mark.parametrize(
    "shape",
    [
        lambda day: day.isoformat(),
        lambda day: datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat(),
        lambda day: f"{day.isoformat()}T00:00:00Z",
        lambda day: f"{day.isoformat()}T00:00:00",
    ],
    ids=["date", "offset", "zulu", "naive-utc"],
)
async def test_since_and_until_take_a_date_or_a_full_time_everywhere(
    api: Served, me: Player, path: str, shape: Any
) -> None:
    await three_rows_on(api, path, me)
    headers = await headers_for(api, path, me)
    today = datetime.now(UTC).date()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)

    async def count(**params: str) -> int:
        response = await api.client.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return len(TIMED[path](response.json()))

    assert await count(since=shape(yesterday)) >= 3
    assert await count(since=shape(tomorrow)) == 0
    assert await count(until=shape(yesterday)) == 0
    # A bare date as until keeps that whole day: /wallet/transactions?until=<today>.
    assert await count(since=today.isoformat(), until=today.isoformat()) >= 3


@pytest.mark.parametrize("path", EVERY)
@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"cursor": "x1"}, "cursor: use the X-Next-Cursor"),
        ({"cursor": "-5"}, "cursor: "),
        ({"cursor": "99999999999999999999"}, "cursor: "),
        ({"limit": 1_000_000}, "limit"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_every_list_refuses_a_bad_cursor_or_limit(
    api: Served, me: Player, path: str, params: dict[str, Any], detail: str
) -> None:
    response = await api.client.get(path, headers=await headers_for(api, path, me), params=params)
    assert response.status_code in (400, 422), response.text
    assert detail in response.json()["detail"]


@pytest.mark.parametrize("path", TIMED)
@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"since": "2026-11-22", "until": "2026-11-21"}, "until: must be after since"),
        ({"since": "2026-11-22T18:00:00Z", "until": "2026-11-22T18:00:00Z"}, "until: must be"),
        ({"until": "soon"}, "until: not a date"),
        ({"since": "2026-13-01"}, "since: not a date"),
    ],
)
async def test_every_timed_list_refuses_a_window_that_cannot_hold_a_row(
    api: Served, me: Player, path: str, params: dict[str, Any], detail: str
) -> None:
    response = await api.client.get(path, headers=await headers_for(api, path, me), params=params)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("/history", {"game": "no-such-game"}, "game: must be one of"),
        ("/wallet/transactions", {"category": "lottery"}, "category: must be one of"),
        ("/leaderboard", {"game": "no-such-game"}, "game: no such game"),
        ("/leaderboard/me", {"game": "no-such-game"}, "game: no such game"),
    ],
)
async def test_a_filter_naming_nothing_is_422_not_an_empty_page(
    api: Served, me: Player, path: str, params: dict[str, str], detail: str
) -> None:
    response = await api.client.get(path, headers=me.headers, params=params)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]


async def test_the_seed_routes_keep_their_bare_lists(api: Served, me: Player) -> None:
    await three_rows_on(api, "/history", me)
    history = await api.client.get("/history", headers=me.headers, params={"limit": 1})
    assert isinstance(history.json(), list)
    assert history.headers["x-next-cursor"]
    await three_rows_on(api, "/leaderboard", me)
    board = await api.client.get("/leaderboard", params={"limit": 1})
    assert isinstance(board.json(), list)
    assert board.headers["x-next-cursor"] == "1"


async def test_the_leaderboards_old_offset_still_pages(api: Served, me: Player) -> None:
    await three_rows_on(api, "/leaderboard", me)
    by_offset = (await api.client.get("/leaderboard", params={"limit": 1, "offset": 1})).json()
    by_cursor = (await api.client.get("/leaderboard", params={"limit": 1, "cursor": "1"})).json()
    assert by_offset == by_cursor
    assert by_cursor[0]["rank"] == 2
