"""Players' provably-fair seeds: commit, use with a rising nonce, reveal on rotation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.errors import ValidationError
from gamehub.games import fairness
from gamehub.games.repository import GameRepository
from gamehub.models import FairnessSeed


@dataclass(frozen=True, slots=True)
class Draw:
    """What one bet draws from: the seed (kept secret until rotated) and its nonce."""

    seed: FairnessSeed
    nonce: int


class Seeds:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = GameRepository(session)

    async def active(self, user_id: int, *, for_update: bool = False) -> FairnessSeed:
        """The player's current seed, created (committed by its hash) on first use."""
        seed = await self.repo.active_seed(user_id, for_update=for_update)
        if seed is not None:
            return seed
        # The user's row lock stops two first bets from creating two active seeds.
        await self.repo.lock_user(user_id)
        seed = await self.repo.active_seed(user_id, for_update=for_update)
        if seed is not None:
            return seed
        return await self._create(user_id, fairness.new_client_seed())

    async def _create(self, user_id: int, client_seed: str) -> FairnessSeed:
        server_seed = fairness.new_server_seed()
        seed = FairnessSeed(
            user_id=user_id,
            server_seed=server_seed,
            server_seed_hash=fairness.seed_hash(server_seed),
            client_seed=client_seed,
            next_nonce=0,
        )
        self.session.add(seed)
        await self.session.flush()
        return seed

    async def draw(self, user_id: int) -> Draw:
        """Take the next nonce atomically: concurrent bets never share one."""
        seed = await self.active(user_id, for_update=True)
        await self.session.execute(
            update(FairnessSeed)
            .where(FairnessSeed.id == seed.id)
            .values(next_nonce=FairnessSeed.next_nonce + 1)
            .execution_options(synchronize_session=False)
        )
        taken = await self.session.execute(
            select(FairnessSeed.next_nonce).where(FairnessSeed.id == seed.id)
        )
        return Draw(seed, int(taken.scalar_one()) - 1)

    async def set_client_seed(self, user_id: int, client_seed: str) -> FairnessSeed:
        try:
            fairness.validate_client_seed(client_seed)
        except ValueError as exc:
            raise ValidationError.of("client_seed", str(exc)) from exc
        seed = await self.active(user_id, for_update=True)
        seed.client_seed = client_seed
        await self.session.flush()
        return seed

    async def rotate(self, user_id: int) -> tuple[FairnessSeed, FairnessSeed]:
        """Reveal the current seed and commit a new one (same client seed, nonce 0)."""
        current = await self.active(user_id, for_update=True)
        current.revealed_at = datetime.now(UTC)
        await self.session.flush()
        return current, await self._create(user_id, current.client_seed)
