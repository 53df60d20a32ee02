"""Which leaderboards exist: all time, or the current UTC day, ISO week or month; over
every game or one. A settled result counts on the eight boards of its game and time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

# A finished period's board is no longer asked for; it lingers this long, then expires.
EXPIRY_GRACE = timedelta(days=1)


class Period(StrEnum):
    ALL = "all"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Board:
    period: Period
    # "all", "2026-11-22", "2026-W47" or "2026-11".
    bucket: str
    # None: every game.
    game: str | None
    # The bucket's UTC interval, [start, end); None for all time.
    start: datetime | None
    end: datetime | None

    @property
    def key(self) -> str:
        return f"{self.period.value}:{self.bucket}|{self.game or '*'}"

    @property
    def expires_at_ms(self) -> int | None:
        if self.end is None:
            return None
        return int((self.end + EXPIRY_GRACE).timestamp() * 1000)


def board(period: Period, game: str | None, at: datetime) -> Board:
    """The board of ``period`` (and ``game``) that ``at`` falls in."""
    at = at.astimezone(UTC)
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    if period is Period.ALL:
        return Board(period, "all", game, None, None)
    if period is Period.DAY:
        return Board(period, day.strftime("%Y-%m-%d"), game, day, day + timedelta(days=1))
    if period is Period.WEEK:
        start = day - timedelta(days=day.weekday())
        iso = day.isocalendar()
        return Board(period, f"{iso.year}-W{iso.week:02d}", game, start, start + timedelta(days=7))
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return Board(period, start.strftime("%Y-%m"), game, start, end)


def boards_of_result(game: str, at: datetime) -> list[Board]:
    return [board(period, g, at) for period in Period for g in (None, game)]
