"""Funding a test wallet the way an operator would: an audited adjustment."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.runtime import Runtime
from gamehub.models import User
from gamehub.wallet.service import WalletService


async def user_id_named(session: AsyncSession, username: str) -> int:
    user_id = await session.scalar(select(User.id).where(User.username_key == username.lower()))
    assert user_id is not None, f"no user {username}"
    return user_id


async def fund(runtime: Runtime, username: str, amount_minor: int, reason: str = "test") -> int:
    async with runtime.db.unit_of_work() as session:
        _, balance = await WalletService(session, "KES").adjust(
            await user_id_named(session, username), amount_minor, reason=reason, actor="tests"
        )
    return balance
