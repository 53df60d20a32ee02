"""Reading leaderboards (rebuilding a board first when it is missing), following settled
games, and writing the periodic snapshots of the ``leaderboard`` table."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import anyio
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.events import Outgoing, user_topic
from gamehub.core.leaderboard_store import (
    BoardNotReady,
    Increment,
    Neighbourhood,
    RebuildStatus,
    Standing,
)
from gamehub.core.money import to_major
from gamehub.core.runtime import Runtime
from gamehub.errors import ServiceUnavailable, ValidationError
from gamehub.models import LeaderboardSnapshot
from gamehub.models.base import utcnow
from gamehub.models.leaderboard import Outcome
from gamehub.stats import schemas
from gamehub.stats.boards import Board, Period, board, boards_of_result
from gamehub.stats.errors import LeaderboardRebuilding
from gamehub.stats.repository import Record, StatsRepository

logger = logging.getLogger("gamehub.stats.leaderboard")

T = TypeVar("T")

# How long a reader waits for someone else's rebuild before answering 503.
REBUILD_WAIT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class Settled:
    """A player_results row, as the after-commit hook needs it."""

    result_id: int
    user_id: int
    game: str
    outcome: str
    earnings: int
    at: datetime

    @property
    def counts(self) -> bool:
        return self.outcome != Outcome.DRAW.value or self.earnings != 0


class Entry(msgspec.Struct):
    rank: int
    user_id: int
    username: str
    win_count: int
    loss_count: int
    # Minor units.
    earnings: int


class Leaderboards:
    def __init__(self, session: AsyncSession, runtime: Runtime) -> None:
        self.session = session
        self.runtime = runtime
        self.store = runtime.leaderboards
        self.repo = StatsRepository(session)

    async def top(self, on: Board, offset: int, limit: int) -> list[Entry]:
        standings = await self._when_ready(on, lambda: self.store.page(on.key, offset, limit))
        return await self._entries(on, standings)

    async def around(
        self, on: Board, user_id: int, reach: int
    ) -> tuple[Entry, list[Entry], list[Entry]] | None:
        """The user's exact standing and their neighbours; None when not on the board."""
        if on.game is not None:
            await known_game(self.repo, on.game)
        found: Neighbourhood | None = await self._when_ready(
            on, lambda: self.store.around(on.key, user_id, reach)
        )
        if found is None:
            return None
        entries = await self._entries(on, [*found.above, found.me, *found.below])
        me = len(found.above)
        return entries[me], entries[:me], entries[me + 1 :]

    async def standings(self, on: Board, user_ids: Sequence[int]) -> dict[int, Standing]:
        """Each player's exact standing (players not on the board left out)."""
        return await self._when_ready(on, lambda: self.store.standings(on.key, user_ids))

    async def _entries(self, on: Board, standings: Sequence[Standing]) -> list[Entry]:
        players = await self.repo.players(on, [s.user_id for s in standings])
        entries = []
        for standing in standings:
            player = players.get(standing.user_id)
            record = player.record if player else Record()
            entries.append(
                Entry(
                    rank=standing.rank,
                    user_id=standing.user_id,
                    username=player.username if player else "",
                    win_count=record.win_count,
                    loss_count=record.loss_count,
                    earnings=standing.earnings,
                )
            )
        return entries

    async def _when_ready(self, on: Board, read: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + REBUILD_WAIT_SECONDS
        while True:
            try:
                return await read()
            except BoardNotReady:
                pass
            token = uuid.uuid4().hex
            status = await self.store.begin_rebuild(on.key, token)
            if status is RebuildStatus.ACQUIRED:
                await self._rebuild(on, token)
            elif status is RebuildStatus.BUSY:
                if time.monotonic() > deadline:
                    raise LeaderboardRebuilding()
                await anyio.sleep(0.05)

    async def _rebuild(self, on: Board, token: str) -> None:
        """Read the board from the database and publish it.

        Runs after the rebuild lock is taken, and relies on READ COMMITTED (our setting
        on every server backend; SQLite serialises writers): the snapshot then holds
        every result committed before the lock, whose increments may have been dropped.
        """
        try:
            rows = await self.repo.snapshot(on)
            finished = await self.store.finish_rebuild(on.key, token, rows, on.expires_at_ms)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.store.abandon_rebuild(on.key, token)
            raise
        if not finished:
            logger.warning("rebuilding leaderboard %s outlasted its lease; retrying", on.key)
        else:
            logger.info("rebuilt leaderboard %s with %d players", on.key, len(rows))


def entry_out(entry: Entry) -> schemas.LeaderboardEntryOut:
    return schemas.LeaderboardEntryOut(
        rank=entry.rank,
        username=entry.username,
        win_count=entry.win_count,
        loss_count=entry.loss_count,
        earnings=to_major(entry.earnings),
        user_id=entry.user_id,
    )


async def page_body(runtime: Runtime, on: Board, offset: int, limit: int) -> tuple[bytes, bool]:
    """GET /leaderboard's JSON body, which may be up to ``leaderboard_cache_seconds`` old,
    and whether a page follows it.

    Computed by one worker and shared through the cache with the instant it expires, so
    that each process may keep its own copy until then: a hit costs neither Redis nor the
    database, and no copy anywhere outlives the bound. A board of a game nobody knows is
    refused before anything is cached, so a hit is always a known game's.
    """
    ttl = runtime.settings.leaderboard_cache_seconds
    key = f"leaderboard-body:{on.key}:{offset}:{limit}"
    if ttl:
        cached = runtime.reads.get(key)
        if cached is not None:
            return cached[1:], cached[:1] == b"1"
        shared = await runtime.cache.get(key)
        if shared is not None:
            expires, _, cached = shared.partition(b":")
            runtime.reads.put(key, cached, float(expires) - time.time())
            return cached[1:], cached[:1] == b"1"
    async with runtime.db.unit_of_work() as session:
        if on.game is not None:
            await known_game(StatsRepository(session), on.game)
        entries = await Leaderboards(session, runtime).top(on, offset, limit + 1)
    more = len(entries) > limit
    body = msgspec.json.encode([entry_out(e) for e in entries[:limit]])
    if ttl:
        # The first byte says whether a page follows.
        cached = (b"1" if more else b"0") + body
        expires_at = time.time() + ttl
        await runtime.cache.set(key, b"%.3f:" % expires_at + cached, ttl)
        runtime.reads.put(key, cached, ttl)
    return body, more


async def known_game(repo: StatsRepository, game: str) -> None:
    """A board exists for each catalog game and each game a server reported results of;
    any other name is a mistake, not an empty board."""
    slugs = await repo.catalog_slugs()
    if game not in slugs and not await repo.has_results_of(game):
        raise ValidationError.of(
            "game",
            "no such game; boards exist for "
            + ", ".join(sorted(slugs))
            + " and the games that game servers reported",
        )


async def after_settlement(
    runtime: Runtime, settled: Sequence[Settled], announced: Sequence[Outgoing] = ()
) -> None:
    """After the commit: count the results on their boards, then tell each player their
    new standing, after the events ``announced`` for the same commit; a few round trips
    for the whole commit, however many players it settled."""
    await runtime.leaderboards.apply(
        [
            Increment(on.key, s.user_id, s.result_id, s.earnings, on.expires_at_ms)
            for s in settled
            if s.counts
            for on in boards_of_result(s.game, s.at)
        ]
    )
    overall = board(Period.ALL, None, utcnow())
    changes: dict[int, list[Settled]] = {}
    for s in settled:
        changes.setdefault(s.user_id, []).append(s)
    places = await _standings(runtime, overall, list(changes))
    events = list(announced)
    for user_id, own in changes.items():
        place = places.get(user_id)
        events.append(
            Outgoing(
                "leaderboard_update",
                {
                    "games": sorted({s.game for s in own}),
                    "change": to_major(sum(s.earnings for s in own)),
                    "rank": place.rank if place else None,
                    "earnings": to_major(place.earnings) if place else None,
                },
                [user_topic(user_id)],
            )
        )
    await runtime.events.publish_many(events)


async def _standings(runtime: Runtime, on: Board, user_ids: list[int]) -> dict[int, Standing]:
    try:
        return await runtime.leaderboards.standings(on.key, user_ids)
    except BoardNotReady:
        pass
    # Nobody has read the board since it was lost (or ever): build it now, once, so
    # that players hear their rank rather than nothing.
    try:
        async with runtime.db.unit_of_work() as session:
            return await Leaderboards(session, runtime).standings(on, user_ids)
    except ServiceUnavailable:  # rebuilding elsewhere, or the database is away
        return {}


async def take_snapshot(runtime: Runtime) -> int:
    """Write the top of each period's board over every game to the leaderboard table;
    returns how many rows were written."""
    size = runtime.settings.leaderboard_snapshot_size
    now = utcnow()
    written = 0
    async with runtime.db.unit_of_work() as session:
        boards = Leaderboards(session, runtime)
        for period in Period:
            on = board(period, None, now)
            entries = await boards.top(on, 0, size)
            await boards.repo.add_snapshot(
                [
                    LeaderboardSnapshot(
                        period=period.value,
                        bucket=on.bucket,
                        game="",
                        rank=e.rank,
                        user_id=e.user_id,
                        earnings=e.earnings,
                        win_count=e.win_count,
                        loss_count=e.loss_count,
                        taken_at=now,
                    )
                    for e in entries
                ]
            )
            written += len(entries)
    return written
