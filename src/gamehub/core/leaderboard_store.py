"""Leaderboard storage: Redis sorted sets, or the same in this process's memory.

A board is only read while it is *ready*. A board that is missing (never built, Redis
restarted or flushed, its period over) is rebuilt from the database before anyone is
answered from it, so a reader never sees a half-empty board.

Two promises keep a ready board exact while results keep arriving:

- increments are applied only after their commit, and each carries the id of its
  ``player_results`` row. Within one player those ids follow commit order (the
  settling transaction holds the player's ``stats`` row lock when it inserts), so a
  rebuild's snapshot holds exactly the player's results up to the largest id it saw:
  the *mark*. An increment at or below the mark is already counted and is skipped.
- while a rebuild runs (between taking its lock and publishing its snapshot),
  increments are journaled, and the snapshot is published together with the journal's
  entries above the marks. An increment that finds the board neither ready nor being
  rebuilt is dropped: it committed before any later rebuild's snapshot, which has it.

Members are zero-padded user ids, so that Redis's order among equal scores (members
in reverse byte order) is also numeric: ties list the newest account first.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar

from redis.exceptions import RedisError

from gamehub.core.clock import Clock, SystemClock
from gamehub.core.redis_client import UNAVAILABLE, Circuit, RedisClient

T = TypeVar("T")

logger = logging.getLogger("gamehub.core.leaderboard_store")

REBUILD_LEASE_SECONDS = 120.0
_WRITE_CHUNK = 1000


class BoardNotReady(Exception):
    """The board must be rebuilt before it can answer."""


class RebuildStatus(StrEnum):
    READY = "ready"
    ACQUIRED = "acquired"
    # Someone else is rebuilding it.
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Increment:
    board: str
    user_id: int
    result_id: int
    earnings: int
    expires_at_ms: int | None


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    user_id: int
    earnings: int
    # The largest player_results id of this user the snapshot includes (0 for none).
    mark: int


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    user_id: int
    earnings: int


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    me: Standing
    above: list[Standing]
    below: list[Standing]


class LeaderboardStore(Protocol):
    async def apply(self, increments: Sequence[Increment]) -> None: ...

    async def begin_rebuild(self, board: str, token: str) -> RebuildStatus: ...

    async def finish_rebuild(
        self, board: str, token: str, rows: Sequence[SnapshotRow], expires_at_ms: int | None
    ) -> bool:
        """Publish the snapshot; False if the lock was lost (the lease ran out)."""
        ...

    async def abandon_rebuild(self, board: str, token: str) -> None: ...

    async def page(self, board: str, offset: int, limit: int) -> list[Standing]:
        """Raises BoardNotReady."""
        ...

    async def standings(self, board: str, user_ids: Sequence[int]) -> dict[int, Standing]:
        """Each player's exact standing on the board, in one round trip; players not on
        it are left out. Raises :class:`BoardNotReady` like :meth:`around`."""
        ...

    async def around(self, board: str, user_id: int, reach: int) -> Neighbourhood | None:
        """The user's standing and up to ``reach`` neighbours on either side; None if the
        user is not on the board. Raises BoardNotReady."""
        ...

    async def forget(self) -> None:
        """Drop every board, as a Redis restart would (for operators and tests)."""
        ...

    async def close(self) -> None: ...


def _ranked(scored: Sequence[tuple[int, int]], offset: int, above_first: int) -> list[Standing]:
    """Standard competition ranks (1, 1, 3) for consecutive (user, score) rows starting
    at ``offset``, given how many members score strictly above the first row."""
    standings: list[Standing] = []
    for index, (user_id, score) in enumerate(scored):
        if index == 0:
            rank = above_first + 1
        elif score == standings[-1].earnings:
            rank = standings[-1].rank
        else:
            rank = offset + index + 1
        standings.append(Standing(rank, user_id, score))
    return standings


class _Board:
    def __init__(self, rows: Sequence[SnapshotRow], expires_at_ms: int | None) -> None:
        self.scores = {r.user_id: r.earnings for r in rows}
        self.marks = {r.user_id: r.mark for r in rows}
        self.expires_at_ms = expires_at_ms
        # (-score, -user id), kept sorted as scores change: rank order, and Redis's
        # order among equal scores.
        self.order = sorted((-s, -u) for u, s in self.scores.items())

    def add(self, user_id: int, result_id: int, earnings: int) -> None:
        if result_id <= self.marks.get(user_id, 0):
            return
        if user_id in self.scores:
            del self.order[bisect.bisect_left(self.order, (-self.scores[user_id], -user_id))]
        self.scores[user_id] = self.scores.get(user_id, 0) + earnings
        bisect.insort(self.order, (-self.scores[user_id], -user_id))

    def above(self, score: int) -> int:
        return bisect.bisect_left(self.order, (-score, -(2**63)))


@dataclass
class _Rebuild:
    token: str
    lease_until: float
    journal: list[Increment] = field(default_factory=list)


class MemoryLeaderboardStore:
    """One process's boards, with the same ready / rebuilding / missing states."""

    def __init__(self, clock: Clock | None = None) -> None:
        # The runtime's clock: a finished period's board expires by it, as by Redis's.
        self._clock = clock or SystemClock()
        self._boards: dict[str, _Board] = {}
        self._rebuilds: dict[str, _Rebuild] = {}

    def _ready(self, name: str) -> _Board | None:
        board = self._boards.get(name)
        if (
            board is not None
            and board.expires_at_ms is not None
            and board.expires_at_ms <= self._clock.now().timestamp() * 1000
        ):
            del self._boards[name]
            return None
        return board

    def _rebuilding(self, name: str) -> _Rebuild | None:
        rebuild = self._rebuilds.get(name)
        if rebuild is not None and rebuild.lease_until <= self._clock.monotonic():
            del self._rebuilds[name]
            return None
        return rebuild

    async def apply(self, increments: Sequence[Increment]) -> None:
        for increment in increments:
            board = self._ready(increment.board)
            if board is not None:
                board.add(increment.user_id, increment.result_id, increment.earnings)
            elif (rebuild := self._rebuilding(increment.board)) is not None:
                rebuild.journal.append(increment)

    async def begin_rebuild(self, board: str, token: str) -> RebuildStatus:
        if self._ready(board) is not None:
            return RebuildStatus.READY
        if self._rebuilding(board) is not None:
            return RebuildStatus.BUSY
        self._rebuilds[board] = _Rebuild(token, self._clock.monotonic() + REBUILD_LEASE_SECONDS)
        return RebuildStatus.ACQUIRED

    async def finish_rebuild(
        self, board: str, token: str, rows: Sequence[SnapshotRow], expires_at_ms: int | None
    ) -> bool:
        rebuild = self._rebuilding(board)
        if rebuild is None or rebuild.token != token:
            return False
        built = _Board(rows, expires_at_ms)
        for increment in rebuild.journal:
            built.add(increment.user_id, increment.result_id, increment.earnings)
        self._boards[board] = built
        del self._rebuilds[board]
        return True

    async def abandon_rebuild(self, board: str, token: str) -> None:
        rebuild = self._rebuilds.get(board)
        if rebuild is not None and rebuild.token == token:
            del self._rebuilds[board]

    async def page(self, board: str, offset: int, limit: int) -> list[Standing]:
        ready = self._ready(board)
        if ready is None:
            raise BoardNotReady(board)
        rows = [(-u, -s) for s, u in ready.order[offset : offset + limit]]
        return _ranked(rows, offset, ready.above(rows[0][1]) if rows else 0)

    async def around(self, board: str, user_id: int, reach: int) -> Neighbourhood | None:
        ready = self._ready(board)
        if ready is None:
            raise BoardNotReady(board)
        if user_id not in ready.scores:
            return None
        order = ready.order
        position = bisect.bisect_left(order, (-ready.scores[user_id], -user_id))
        first = max(0, position - reach)
        rows = [(-u, -s) for s, u in order[first : position + reach + 1]]
        return _neighbourhood(_ranked(rows, first, ready.above(rows[0][1])), position - first)

    async def standings(self, board: str, user_ids: Sequence[int]) -> dict[int, Standing]:
        found = {}
        for user_id in user_ids:
            place = await self.around(board, user_id, 0)
            if place is not None:
                found[user_id] = place.me
        return found

    async def forget(self) -> None:
        self._boards.clear()
        self._rebuilds.clear()

    async def close(self) -> None:
        await self.forget()


def _neighbourhood(window: list[Standing], me: int) -> Neighbourhood:
    return Neighbourhood(window[me], window[:me], window[me + 1 :])


# Keys of board B: z (scores), w (marks, and the field "~" once ready), l (rebuild
# lock), j (journal). Members are zero-padded user ids.
_APPLY = """
for i = 0, #KEYS / 4 - 1 do
    local z, w, l, j = KEYS[4 * i + 1], KEYS[4 * i + 2], KEYS[4 * i + 3], KEYS[4 * i + 4]
    local member, result, delta, expire_at =
        ARGV[4 * i + 2], ARGV[4 * i + 3], ARGV[4 * i + 4], ARGV[4 * i + 5]
    if redis.call('HEXISTS', w, '~') == 1 then
        if tonumber(result) > tonumber(redis.call('HGET', w, member) or '0') then
            redis.call('ZINCRBY', z, delta, member)
            if expire_at ~= '0' then redis.call('PEXPIREAT', z, expire_at) end
        end
    elseif redis.call('EXISTS', l) == 1 then
        redis.call('RPUSH', j, member .. ' ' .. result .. ' ' .. delta)
        redis.call('PEXPIRE', j, ARGV[1])
    end
end
"""

_BEGIN = """
if redis.call('HEXISTS', KEYS[1], '~') == 1 then return 'ready' end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
    -- A journal left by a rebuilder whose lease ran out holds only results committed
    -- before this lock was taken: the snapshot about to be read has them.
    redis.call('DEL', KEYS[3])
    return 'acquired'
end
return 'busy'
"""

# KEYS: z, w, l, j, staged z, staged w. ARGV: token, expire-at ms or '0'.
_FINISH = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
    redis.call('DEL', KEYS[5], KEYS[6])
    return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('RENAME', KEYS[5], KEYS[1]) end
if redis.call('EXISTS', KEYS[6]) == 1 then redis.call('RENAME', KEYS[6], KEYS[2]) end
for _, entry in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
    local member, result, delta = string.match(entry, '^(%S+) (%S+) (%S+)$')
    if tonumber(result) > tonumber(redis.call('HGET', KEYS[2], member) or '0') then
        redis.call('ZINCRBY', KEYS[1], delta, member)
    end
end
redis.call('HSET', KEYS[2], '~', '1')
-- The staged keys carried the lease as their expiry.
for _, key in ipairs({KEYS[1], KEYS[2]}) do
    if ARGV[2] == '0' then redis.call('PERSIST', key) else redis.call('PEXPIREAT', key, ARGV[2]) end
end
redis.call('DEL', KEYS[3], KEYS[4])
return 1
"""

_ABANDON = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
end
"""

_PAGE = """
if redis.call('HEXISTS', KEYS[2], '~') == 0 then return false end
local first = tonumber(ARGV[1])
local last = first + tonumber(ARGV[2]) - 1
local rows = redis.call('ZRANGE', KEYS[1], first, last, 'REV', 'WITHSCORES')
if #rows == 0 then return {rows, 0} end
return {rows, redis.call('ZCOUNT', KEYS[1], '(' .. rows[2], '+inf')}
"""

# ARGV: reach, then members. One reply per member: {} when it is not on the board.
_AROUND = """
if redis.call('HEXISTS', KEYS[2], '~') == 0 then return false end
local reach = tonumber(ARGV[1])
local replies = {}
for i = 2, #ARGV do
    local position = redis.call('ZREVRANK', KEYS[1], ARGV[i])
    if not position then
        replies[#replies + 1] = {}
    else
        local first = math.max(0, position - reach)
        local rows = redis.call('ZRANGE', KEYS[1], first, position + reach, 'REV', 'WITHSCORES')
        local above = redis.call('ZCOUNT', KEYS[1], '(' .. rows[2], '+inf')
        replies[#replies + 1] = {first, position, rows, above}
    end
end
return replies
"""


def _member(user_id: int) -> str:
    return f"{user_id:010d}"


def _scored(flat: Sequence[bytes]) -> list[tuple[int, int]]:
    # Scores are whole minor units, exact in a double below 2**53.
    return [(int(flat[i]), int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]


class RedisLeaderboardStore:
    def __init__(self, client: RedisClient, prefix: str) -> None:
        self._client = client
        # Every board shares one hash tag, so that in a Redis Cluster they live in one
        # slot: a result updates its eight boards in one script (and a rebuild renames
        # staged keys onto a board's), which a cluster runs only on keys of one slot.
        self._prefix = f"{prefix}{{lb}}:"
        self._apply = client.register_script(_APPLY)
        self._begin = client.register_script(_BEGIN)
        self._finish = client.register_script(_FINISH)
        self._abandon = client.register_script(_ABANDON)
        self._page = client.register_script(_PAGE)
        self._around = client.register_script(_AROUND)
        # Boards an increment failed to reach: they are no longer exact, so they are
        # made to rebuild as soon as Redis answers again.
        self._suspect: set[str] = set()

    def _keys(self, board: str) -> list[str]:
        return [f"{self._prefix}{kind}:{board}" for kind in ("z", "w", "l", "j")]

    async def _drop_suspects(self) -> None:
        if self._suspect:
            suspects = list(self._suspect)
            await self._client.delete(*(self._keys(b)[1] for b in suspects))
            self._suspect.difference_update(suspects)

    async def apply(self, increments: Sequence[Increment]) -> None:
        if not increments:
            return
        keys: list[str] = []
        args: list[str | int] = [max(1, round(REBUILD_LEASE_SECONDS * 1000))]
        for inc in increments:
            keys.extend(self._keys(inc.board))
            args.extend([_member(inc.user_id), inc.result_id, inc.earnings, inc.expires_at_ms or 0])
        try:
            await self._drop_suspects()
            await self._apply(keys=keys, args=args)
        except RedisError:
            self.missed(increments)
            raise

    def missed(self, increments: Sequence[Increment]) -> None:
        """These increments never reached Redis: their boards must be rebuilt."""
        self._suspect.update(inc.board for inc in increments)

    async def begin_rebuild(self, board: str, token: str) -> RebuildStatus:
        await self._drop_suspects()
        _, marks, lock, journal = self._keys(board)
        status = await self._begin(
            keys=[marks, lock, journal], args=[token, max(1, round(REBUILD_LEASE_SECONDS * 1000))]
        )
        return RebuildStatus(status.decode() if isinstance(status, bytes) else status)

    def _staged(self, board: str, token: str) -> tuple[str, str]:
        return f"{self._prefix}sz:{board}:{token}", f"{self._prefix}sw:{board}:{token}"

    async def finish_rebuild(
        self, board: str, token: str, rows: Sequence[SnapshotRow], expires_at_ms: int | None
    ) -> bool:
        staged_z, staged_w = self._staged(board, token)
        lease_ms = max(1, round(REBUILD_LEASE_SECONDS * 1000))
        for start in range(0, len(rows), _WRITE_CHUNK):
            chunk = rows[start : start + _WRITE_CHUNK]
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.zadd(staged_z, {_member(r.user_id): r.earnings for r in chunk})
                pipe.hset(staged_w, mapping={_member(r.user_id): r.mark for r in chunk})
                pipe.pexpire(staged_z, lease_ms)
                pipe.pexpire(staged_w, lease_ms)
                await pipe.execute()
        finished = await self._finish(
            keys=[*self._keys(board), staged_z, staged_w], args=[token, expires_at_ms or 0]
        )
        return bool(finished)

    async def abandon_rebuild(self, board: str, token: str) -> None:
        _, _, lock, journal = self._keys(board)
        staged_z, staged_w = self._staged(board, token)
        await self._abandon(keys=[lock, journal, staged_z, staged_w], args=[token])

    async def page(self, board: str, offset: int, limit: int) -> list[Standing]:
        z, w, _, _ = self._keys(board)
        reply = await self._page(keys=[z, w], args=[offset, limit])
        if reply is None:
            raise BoardNotReady(board)
        flat, above_first = reply
        return _ranked(_scored(flat), offset, int(above_first))

    async def around(self, board: str, user_id: int, reach: int) -> Neighbourhood | None:
        z, w, _, _ = self._keys(board)
        replies = await self._around(keys=[z, w], args=[reach, _member(user_id)])
        if replies is None:
            raise BoardNotReady(board)
        (reply,) = replies
        if not reply:
            return None
        first, position, flat, above_first = reply
        window = _ranked(_scored(flat), int(first), int(above_first))
        return _neighbourhood(window, int(position) - int(first))

    async def standings(self, board: str, user_ids: Sequence[int]) -> dict[int, Standing]:
        if not user_ids:
            return {}
        z, w, _, _ = self._keys(board)
        # One script for every player (a cluster refuses scripts in a pipeline).
        replies = await self._around(keys=[z, w], args=[0, *map(_member, user_ids)])
        if replies is None:
            raise BoardNotReady(board)
        found = {}
        for user_id, reply in zip(user_ids, replies, strict=True):
            if reply:
                first, position, flat, above_first = reply
                window = _ranked(_scored(flat), int(first), int(above_first))
                found[user_id] = window[int(position) - int(first)]
        return found

    async def forget(self) -> None:
        keys = [key async for key in self._client.scan_iter(f"{self._prefix}*", count=1000)]
        if keys:
            await self._client.delete(*keys)

    async def close(self) -> None:
        await self._client.aclose()


class FallbackLeaderboardStore:
    """Redis boards, or this process's boards, rebuilt from the database, while Redis
    cannot be reached.

    An increment Redis missed marks its boards suspect (see RedisLeaderboardStore), so
    they are rebuilt before Redis serves them again; the in-process boards are dropped
    when Redis returns, since they stop following increments from then on.
    """

    def __init__(
        self,
        primary: RedisLeaderboardStore,
        circuit: Circuit | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.primary = primary
        self.local = MemoryLeaderboardStore(clock)
        self.circuit = circuit or Circuit("leaderboards", clock=clock)

    async def _either(
        self, remote: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]
    ) -> T:
        if self.circuit.allows():
            was_degraded = self.circuit.degraded
            try:
                result = await remote()
            except UNAVAILABLE as exc:
                self.circuit.failed(exc)
            except BaseException:
                # Redis answered (BoardNotReady, say): it is back.
                await self._reached(was_degraded)
                raise
            else:
                await self._reached(was_degraded)
                return result
        return await local()

    async def _reached(self, was_degraded: bool) -> None:
        self.circuit.succeeded()
        if was_degraded:
            await self.local.forget()

    async def apply(self, increments: Sequence[Increment]) -> None:
        await self.local.apply(increments)

        async def missed() -> None:
            self.primary.missed(increments)

        await self._either(lambda: self.primary.apply(increments), missed)

    async def begin_rebuild(self, board: str, token: str) -> RebuildStatus:
        return await self._either(
            lambda: self.primary.begin_rebuild(board, token),
            lambda: self.local.begin_rebuild(board, token),
        )

    async def finish_rebuild(
        self, board: str, token: str, rows: Sequence[SnapshotRow], expires_at_ms: int | None
    ) -> bool:
        return await self._either(
            lambda: self.primary.finish_rebuild(board, token, rows, expires_at_ms),
            lambda: self.local.finish_rebuild(board, token, rows, expires_at_ms),
        )

    async def abandon_rebuild(self, board: str, token: str) -> None:
        await self._either(
            lambda: self.primary.abandon_rebuild(board, token),
            lambda: self.local.abandon_rebuild(board, token),
        )

    async def page(self, board: str, offset: int, limit: int) -> list[Standing]:
        return await self._either(
            lambda: self.primary.page(board, offset, limit),
            lambda: self.local.page(board, offset, limit),
        )

    async def around(self, board: str, user_id: int, reach: int) -> Neighbourhood | None:
        return await self._either(
            lambda: self.primary.around(board, user_id, reach),
            lambda: self.local.around(board, user_id, reach),
        )

    async def standings(self, board: str, user_ids: Sequence[int]) -> dict[int, Standing]:
        return await self._either(
            lambda: self.primary.standings(board, user_ids),
            lambda: self.local.standings(board, user_ids),
        )

    async def forget(self) -> None:
        await self.local.forget()
        await self._either(self.primary.forget, _nothing)

    async def close(self) -> None:
        await self.local.close()
        await self.primary.close()


async def _nothing() -> None:
    return None
