"""Both leaderboard stores keep a board exact while it is rebuilt under live results."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from gamehub.core.clock import ManualClock
from gamehub.core.leaderboard_store import (
    BoardNotReady,
    Increment,
    LeaderboardStore,
    MemoryLeaderboardStore,
    RebuildStatus,
    RedisLeaderboardStore,
    SnapshotRow,
    Standing,
)
from tests.conftest import REDIS_TEST_PREFIX, redis_client

BOARD = "all:all|*"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_url: str | None, clock: ManualClock
) -> AsyncIterator[LeaderboardStore]:
    made: LeaderboardStore
    if request.param == "memory":
        made = MemoryLeaderboardStore(clock)
    else:
        if redis_url is None:
            pytest.skip("needs GAMEHUB_TEST_REDIS_URL")
        prefix = f"{REDIS_TEST_PREFIX}{uuid.uuid4().hex[:10]}:"
        made = RedisLeaderboardStore(redis_client(redis_url), prefix)
    yield made
    await made.forget()
    await made.close()


def plus(user_id: int, result_id: int, earnings: int, board: str = BOARD) -> Increment:
    return Increment(board, user_id, result_id, earnings, None)


async def test_a_missing_board_answers_nothing_and_drops_increments(
    store: LeaderboardStore,
) -> None:
    with pytest.raises(BoardNotReady):
        await store.page(BOARD, 0, 10)
    with pytest.raises(BoardNotReady):
        await store.around(BOARD, 1, 1)
    await store.apply([plus(1, 1, 100)])
    assert await store.begin_rebuild(BOARD, "t") is RebuildStatus.ACQUIRED
    assert await store.finish_rebuild(BOARD, "t", [], None)
    assert await store.page(BOARD, 0, 10) == []


async def test_results_arriving_during_a_rebuild_count_once(store: LeaderboardStore) -> None:
    assert await store.begin_rebuild(BOARD, "mine") is RebuildStatus.ACQUIRED
    assert await store.begin_rebuild(BOARD, "theirs") is RebuildStatus.BUSY
    await store.apply(
        [
            # Committed before the snapshot was read: the snapshot has it.
            plus(1, 5, 500),
            # Committed after it: only the journal has it.
            plus(1, 7, 40),
            plus(3, 9, 70),
        ]
    )
    snapshot = [SnapshotRow(1, 600, 5), SnapshotRow(2, 300, 4)]
    assert await store.finish_rebuild(BOARD, "mine", snapshot, None)
    assert await store.page(BOARD, 0, 10) == [
        Standing(1, 1, 640),
        Standing(2, 2, 300),
        Standing(3, 3, 70),
    ]
    # A late increment the snapshot already counted changes nothing; a new one does.
    await store.apply([plus(2, 4, 300), plus(2, 8, 1)])
    assert await store.page(BOARD, 1, 1) == [Standing(2, 2, 301)]
    assert await store.begin_rebuild(BOARD, "again") is RebuildStatus.READY


async def test_a_lost_lease_or_abandoned_rebuild_publishes_nothing(
    store: LeaderboardStore,
) -> None:
    assert await store.begin_rebuild(BOARD, "first") is RebuildStatus.ACQUIRED
    await store.abandon_rebuild(BOARD, "first")
    assert await store.begin_rebuild(BOARD, "second") is RebuildStatus.ACQUIRED
    assert not await store.finish_rebuild(BOARD, "first", [SnapshotRow(1, 1, 1)], None)
    with pytest.raises(BoardNotReady):
        await store.page(BOARD, 0, 10)
    assert await store.finish_rebuild(BOARD, "second", [SnapshotRow(2, 2, 1)], None)
    assert await store.page(BOARD, 0, 10) == [Standing(1, 2, 2)]


async def test_ties_and_neighbourhoods(store: LeaderboardStore) -> None:
    rows = [SnapshotRow(u, e, 1) for u, e in [(1, 50), (2, 30), (3, 30), (4, 30), (5, -10)]]
    await store.begin_rebuild(BOARD, "t")
    await store.finish_rebuild(BOARD, "t", rows, None)
    assert [(s.rank, s.user_id) for s in await store.page(BOARD, 0, 5)] == [
        (1, 1),
        (2, 4),
        (2, 3),
        (2, 2),
        (5, 5),
    ]
    around = await store.around(BOARD, 3, 1)
    assert around is not None
    assert around.me == Standing(2, 3, 30)
    assert around.above == [Standing(2, 4, 30)]
    assert around.below == [Standing(2, 2, 30)]
    assert await store.around(BOARD, 99, 1) is None


async def test_a_finished_period_expires(store: LeaderboardStore, clock: ManualClock) -> None:
    board = "day:2020-01-01|*"
    expires_at_ms = int(clock.now().timestamp() * 1000) + 60_000
    await store.begin_rebuild(board, "t")
    await store.finish_rebuild(board, "t", [SnapshotRow(1, 5, 1)], expires_at_ms)
    assert await store.page(board, 0, 1) == [Standing(1, 1, 5)]
    if isinstance(store, RedisLeaderboardStore):
        # Redis expires the board by its own clock, at the moment it was given.
        for key in store._keys(board)[:2]:
            assert await store._client.pexpiretime(key) == expires_at_ms
        return
    clock.advance(59.9)
    assert await store.page(board, 0, 1) == [Standing(1, 1, 5)]
    clock.advance(0.1)
    with pytest.raises(BoardNotReady):
        await store.page(board, 0, 1)
