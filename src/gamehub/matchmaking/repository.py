"""All SQL of service credentials and externally run games."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.models import (
    Account,
    ExternalGame,
    Game,
    LedgerEntry,
    LedgerTransaction,
    PlayerResult,
    ServiceCredential,
    User,
)
from gamehub.models.matchmaking import ExternalGameStatus
from gamehub.wallet.taxes import TAX_ACCOUNT_KINDS


class MatchmakingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Credentials

    async def credential_by_hash(self, key_hash: str) -> ServiceCredential | None:
        result = await self.session.execute(
            select(ServiceCredential).where(ServiceCredential.key_hash == key_hash)
        )
        return result.scalar_one_or_none()

    async def credential_by_name(self, name: str) -> ServiceCredential | None:
        result = await self.session.execute(
            select(ServiceCredential).where(ServiceCredential.name == name)
        )
        return result.scalar_one_or_none()

    async def credentials(self) -> Sequence[ServiceCredential]:
        result = await self.session.execute(
            select(ServiceCredential).order_by(ServiceCredential.id)
        )
        return result.scalars().all()

    async def add(self, row: ServiceCredential | ExternalGame) -> bool:
        """Insert; False if a unique column clashed with an existing row."""
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            return False
        return True

    # Games

    async def game_for_update(self, game_id: str) -> ExternalGame | None:
        """The game row, locked until commit, so that updates and the one termination
        of a game happen one after the other."""
        result = await self.session.execute(
            select(ExternalGame)
            .where(ExternalGame.game_id == game_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def active_games(
        self,
        now: datetime,
        *,
        before_id: int | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> Sequence[ExternalGame]:
        """Newest registered first; ``since`` and ``until`` bound the last update."""
        query = (
            select(ExternalGame)
            .where(
                ExternalGame.status == ExternalGameStatus.ACTIVE.value,
                ExternalGame.expires_at > now,
            )
            .order_by(ExternalGame.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(ExternalGame.id < before_id)
        if since is not None:
            query = query.where(ExternalGame.updated_at >= since)
        if until is not None:
            query = query.where(ExternalGame.updated_at < until)
        return (await self.session.execute(query)).scalars().all()

    async def is_catalog_game(self, slug: str) -> bool:
        """Whether the slug is one of our own games (open or closed)."""
        result = await self.session.execute(select(Game.id).where(Game.slug == slug))
        return result.first() is not None

    # Players

    async def users_by_id(self, user_ids: Sequence[int]) -> dict[int, User]:
        if not user_ids:
            return {}
        result = await self.session.execute(select(User).where(User.id.in_(user_ids)))
        return {user.id: user for user in result.scalars()}

    async def users_by_username(self, usernames: Sequence[str]) -> dict[str, User]:
        if not usernames:
            return {}
        keys = [name.lower() for name in usernames]
        result = await self.session.execute(select(User).where(User.username_key.in_(keys)))
        return {user.username_key: user for user in result.scalars()}

    async def results_of(self, reference: str) -> Sequence[tuple[PlayerResult, str]]:
        result = await self.session.execute(
            select(PlayerResult, User.username)
            .join(User, User.id == PlayerResult.user_id)
            .where(PlayerResult.reference == reference)
            .order_by(PlayerResult.user_id)
        )
        return [(row, name) for row, name in result.all()]

    async def taxes_posted(self, references: Sequence[str]) -> Sequence[tuple[str, str, int]]:
        """(reference, tax account kind, amount) of the taxes the ledger transactions of
        these references posted."""
        result = await self.session.execute(
            select(LedgerTransaction.reference, Account.kind, func.sum(LedgerEntry.amount))
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(Account, Account.id == LedgerEntry.account_id)
            .where(
                LedgerTransaction.reference.in_(references),
                Account.kind.in_(TAX_ACCOUNT_KINDS),
            )
            .group_by(LedgerTransaction.reference, Account.kind)
        )
        return [(str(ref), str(kind), int(total)) for ref, kind, total in result.all()]
