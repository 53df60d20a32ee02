"""What operators change in the games while they run (docs/operators.md): open or
closed, the stake limits, Spin and Win's reward table, roulette's rake and side-bet edge.

All of it lives on the game's row and in reward_tables, which every bet reads in its own
transaction (on PostgreSQL's fast path, in the very statement that takes the stake): a
change is in force for the next bet on every worker, with no cache to go stale. Only the
reward tables themselves are cached, in each process, by version, and only once read
back committed: a version is written once and never changed, so a cached one is never
wrong.

Roulette's rake is the one exception to "the next bet": a room takes it from the game's
row when it opens (with its first stake) and settles at it, so a change applies to rooms
opened after it (docs/operators.md, "Games").
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.db import Database
from gamehub.core.money import format_major
from gamehub.errors import ValidationError
from gamehub.games import fairness
from gamehub.games.catalog import BPS, RUSSIAN_ROULETTE, SPIN_AND_WIN
from gamehub.games.errors import GameNotFound, RewardTableNotFound, RewardTableRefused
from gamehub.games.repository import GameRepository
from gamehub.models import Game, RewardTable
from gamehub.settings import Settings

# The most rake or side-bet edge an operator may set, as the settings allowed: half.
MAX_EDGE_BPS = 5000


@dataclass(slots=True)
class _Known:
    """One database's tables this process has read, by (game id, version), and the ids
    of the games they belong to, by slug (what the fast path knows a game by)."""

    tables: dict[tuple[int, int], fairness.RewardTable] = field(default_factory=dict)
    game_ids: dict[str, int] = field(default_factory=dict)


# Per database: tests and tools may hold several in one process.
_KNOWN: weakref.WeakKeyDictionary[Database, _Known] = weakref.WeakKeyDictionary()


def _known(db: Database) -> _Known:
    found = _KNOWN.get(db)
    if found is None:
        found = _KNOWN[db] = _Known()
    return found


def known_versions(db: Database, slug: str) -> list[int]:
    """The versions of the game's table this process holds: the fast path asks the
    database for a table's text only when the version in force is not among them."""
    known = _known(db)
    game_id = known.game_ids.get(slug)
    return [version for game, version in known.tables if game == game_id]


def remember(
    db: Database, slug: str, game_id: int, version: int, text: str
) -> fairness.RewardTable:
    table = fairness.parse_reward_table(text)
    known = _known(db)
    known.tables[game_id, version] = table
    known.game_ids[slug] = game_id
    return table


def cached_table(db: Database, game_id: int, version: int) -> fairness.RewardTable | None:
    return _known(db).tables.get((game_id, version))


async def table_of(
    session: AsyncSession, db: Database, game_id: int, version: int
) -> fairness.RewardTable:
    """The game's reward table of this version: from this process's cache, or read once."""
    table = cached_table(db, game_id, version)
    if table is not None:
        return table
    repo = GameRepository(session)
    row = await repo.reward_table(game_id, version)
    game = await repo.game_by_id(game_id)
    if row is None or game is None:
        raise RewardTableNotFound(f"No reward table version {version}")
    return remember(db, game.slug, game_id, version, row.table)


async def table_in_force(
    session: AsyncSession, db: Database, game: Game
) -> tuple[int, fairness.RewardTable]:
    """The version the game's row names, read in the caller's transaction, and its table."""
    version = game.reward_table_version
    if version is None:
        raise RewardTableNotFound(f"{game.name} has no reward table")
    return version, await table_of(session, db, game.id, version)


def rake(game: Game) -> Fraction:
    return Fraction(game.rake_bps, BPS)


def side_bet_edge(game: Game) -> Fraction:
    return Fraction(game.side_bet_edge_bps, BPS)


@dataclass(frozen=True, slots=True)
class GameChanges:
    """What a change sets; None leaves it as it is. Stakes in minor units."""

    is_active: bool | None = None
    min_bet: int | None = None
    max_bet: int | None = None
    rake_bps: int | None = None
    side_bet_edge_bps: int | None = None


def settings_of(game: Game) -> dict[str, Any]:
    """What an operator may change, as the audit trail records it (stakes in minor
    units, the exact value kept)."""
    found: dict[str, Any] = {
        "is_active": game.is_active,
        "min_bet": game.min_bet,
        "max_bet": game.max_bet,
    }
    if game.slug == SPIN_AND_WIN:
        found["reward_table_version"] = game.reward_table_version
    if game.slug == RUSSIAN_ROULETTE:
        found["rake_bps"] = game.rake_bps
        found["side_bet_edge_bps"] = game.side_bet_edge_bps
    return found


def _raw_rtp(segments: list[dict[str, Any]]) -> Fraction | None:
    """The return of a table as sent, before it is checked as a table: a table refused
    for its return says so by the figure, whatever else is wrong with it."""
    try:
        weights = [int(s["weight"]) for s in segments]
        paid = sum(
            (Fraction(str(s["multiplier"])) * w for s, w in zip(segments, weights, strict=True)),
            Fraction(0),
        )
        total = sum(weights)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return paid / total if total > 0 else None


class GameSettings:
    """The changes, each under the game row's lock: two operators' changes of one game
    follow each other, and the second sees the first."""

    def __init__(self, session: AsyncSession, db: Database, settings: Settings) -> None:
        self.session = session
        self.db = db
        self.settings = settings
        self.repo = GameRepository(session)

    async def games(self) -> list[Game]:
        return list(await self.repo.games())

    async def game(self, slug: str, *, for_update: bool = False) -> Game:
        game = await (self.repo.lock_game(slug) if for_update else self.repo.game(slug))
        if game is None:
            raise GameNotFound(f"No game {slug}")
        return game

    async def change(self, slug: str, changes: GameChanges) -> tuple[dict[str, Any], Game]:
        """Apply ``changes``; the settings as they were, and the game as it is now."""
        game = await self.game(slug, for_update=True)
        before = settings_of(game)
        min_bet = game.min_bet if changes.min_bet is None else changes.min_bet
        max_bet = game.max_bet if changes.max_bet is None else changes.max_bet
        if min_bet > max_bet:
            named = "min_bet" if changes.min_bet is not None else "max_bet"
            raise ValidationError.of(
                named,
                f"the minimum stake ({format_major(min_bet)}) is above the maximum "
                f"({format_major(max_bet)})",
            )
        for name in ("rake_bps", "side_bet_edge_bps"):
            value = getattr(changes, name)
            if value is None:
                continue
            if game.slug != RUSSIAN_ROULETTE:
                raise ValidationError.of(name, f"only {RUSSIAN_ROULETTE} has one")
            setattr(game, name, value)
        if changes.is_active is not None:
            game.is_active = changes.is_active
        game.min_bet, game.max_bet = min_bet, max_bet
        await self.session.flush()
        return before, game

    async def add_reward_table(
        self, slug: str, segments: list[dict[str, Any]], created_by: str
    ) -> tuple[int | None, RewardTable]:
        """A new version of the game's table, in force from the next spin; refused when
        its return to player is outside the install's bounds. The version in force
        before it, and the new one."""
        game = await self.game(slug, for_update=True)
        if game.slug != SPIN_AND_WIN:
            raise RewardTableNotFound(f"{game.name} has no reward table")
        low = Fraction(self.settings.spin_rtp_min_bps, BPS)
        high = Fraction(self.settings.spin_rtp_max_bps, BPS)
        rtp = _raw_rtp(segments)
        if rtp is not None and not low <= rtp <= high:
            raise RewardTableRefused(
                f"table: its return to player is {float(rtp):.2%} ({rtp}); it must be "
                f"between {float(low):.2%} and {float(high):.2%}",
                rtp=float(rtp),
                minimum=float(low),
                maximum=float(high),
            )
        try:
            table = fairness.parse_reward_table(segments)
        except ValueError as exc:
            raise ValidationError.of("table", str(exc)) from exc
        # Under the game's lock: two new versions at once take the next two numbers.
        version = await self.repo.latest_reward_table_version(game.id) + 1
        row = await self.repo.add_reward_table(
            RewardTable(
                game_id=game.id,
                version=version,
                table=json.dumps(table.public()),
                created_by=created_by,
            )
        )
        previous, game.reward_table_version = game.reward_table_version, version
        await self.session.flush()
        return previous, row

    async def reward_tables(self, slug: str) -> tuple[Game, list[RewardTable]]:
        game = await self.game(slug)
        if game.slug != SPIN_AND_WIN:
            raise RewardTableNotFound(f"{game.name} has no reward table")
        return game, list(await self.repo.reward_tables(game.id))

    async def reward_table(self, slug: str, version: int) -> RewardTable:
        game = await self.game(slug)
        row = await self.repo.reward_table(game.id, version)
        if row is None:
            raise RewardTableNotFound(f"{game.name} has no reward table version {version}")
        return row
