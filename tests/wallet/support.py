"""Funding a test wallet the way an operator would: an audited adjustment."""

from __future__ import annotations

from gamehub.core.runtime import Runtime
from gamehub.wallet.service import adjust_wallet


async def fund(runtime: Runtime, username: str, amount_minor: int, reason: str = "test") -> int:
    async with runtime.db.unit_of_work() as session:
        _, balance = await adjust_wallet(
            session,
            username=username,
            amount_minor=amount_minor,
            currency="KES",
            reason=reason,
            actor="tests",
        )
    return balance
