"""The game catalog and each game's published figures (return to player, house edge)."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.money import format_major, to_major
from gamehub.games import fairness
from gamehub.games.errors import GameClosed, GameNotFound, StakeOutOfRange
from gamehub.games.repository import GameRepository
from gamehub.models import Game
from gamehub.settings import Settings

SPIN_AND_WIN = "spin-and-win"
RUSSIAN_ROULETTE = "russian-roulette"
BPS = 10_000


@lru_cache(maxsize=4)
def _table(config: str | None) -> fairness.RewardTable:
    return fairness.DEFAULT_SPIN_TABLE if config is None else fairness.parse_reward_table(config)


def spin_table(settings: Settings) -> fairness.RewardTable:
    return _table(settings.spin_reward_table)


def rake(settings: Settings) -> Fraction:
    return Fraction(settings.roulette_rake_bps, BPS)


def side_bet_edge(settings: Settings) -> Fraction:
    return Fraction(settings.roulette_side_bet_edge_bps, BPS)


def return_to_player(game: Game, settings: Settings) -> Fraction:
    """Spin and Win: the table's exact RTP. Roulette: the pot comes back less the rake
    (side bets return 1 minus their own edge)."""
    if game.slug == SPIN_AND_WIN:
        return fairness.theoretical_rtp(spin_table(settings))
    return 1 - rake(settings)


async def playable_game(session: AsyncSession, slug: str, *, for_update: bool = False) -> Game:
    game = await GameRepository(session).game(slug, for_update=for_update)
    if game is None:
        raise GameNotFound(f"No game {slug}")
    if not game.is_active:
        raise GameClosed(f"{game.name} is closed for now")
    return game


def check_stake(game: Game, amount: int, what: str = "bet_amount") -> None:
    if not game.min_bet <= amount <= game.max_bet:
        raise StakeOutOfRange(
            f"{what}: {game.name} takes {format_major(game.min_bet)} to "
            f"{format_major(game.max_bet)}",
            minimum=to_major(game.min_bet),
            maximum=to_major(game.max_bet),
        )
