"""The game catalog and each game's published figures (return to player, house edge)."""

from __future__ import annotations

from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.money import format_major, to_major
from gamehub.games import fairness
from gamehub.games.errors import GameClosed, GameNotFound, StakeOutOfRange
from gamehub.games.repository import GameRepository
from gamehub.models import Game

SPIN_AND_WIN = "spin-and-win"
RUSSIAN_ROULETTE = "russian-roulette"
BPS = 10_000


def return_to_player(game: Game, table: fairness.RewardTable | None) -> Fraction:
    """Spin and Win: the exact RTP of ``table`` (the one in force, or a bet's own).
    Roulette: the pot comes back less the rake on the game's row (side bets return 1
    minus their own edge)."""
    if game.slug == SPIN_AND_WIN:
        assert table is not None, "Spin and Win's return is its table's"
        return fairness.theoretical_rtp(table)
    return 1 - Fraction(game.rake_bps, BPS)


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
