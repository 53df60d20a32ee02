"""Operators and players for the admin API tests, and what the audit log says of them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from gamehub.admin.service import grant_role
from gamehub.core.runtime import Runtime
from gamehub.models import AuditLog, Deposit, Withdrawal
from gamehub.models.ledger import AccountKind, Category
from gamehub.wallet.ledger import Ledger, Posting
from tests.stats.support import Player, players
from tests.support.apps import Served


@dataclass
class Staff:
    player: Player
    roles: tuple[str, ...]

    @property
    def headers(self) -> dict[str, str]:
        return self.player.headers

    @property
    def id(self) -> int:
        return self.player.id

    @property
    def username(self) -> str:
        return self.player.username


async def staff(api: Served, *roles: str) -> Staff:
    (made,) = await players(api.client, 1)
    for role in roles:
        await grant_role(api.runtime, made.username, role, "tests")
    return Staff(made, roles)


async def audit_rows(runtime: Runtime, target_id: int | str, kind: str = "user") -> list[AuditLog]:
    async with runtime.db.unit_of_work() as session:
        rows = await session.scalars(
            select(AuditLog)
            .where(AuditLog.target_kind == kind, AuditLog.target_id == str(target_id))
            .order_by(AuditLog.id)
        )
        return list(rows)


def decoded(value: str | None) -> Any:
    return None if value is None else json.loads(value)


async def expired_deposit(runtime: Runtime, user_id: int, amount_minor: int) -> int:
    """A deposit M-Pesa never answered, as the reconciler leaves it."""
    async with runtime.db.unit_of_work() as session:
        deposit = Deposit(
            user_id=user_id,
            amount=amount_minor,
            currency="KES",
            phone="254708374149",
            status="expired",
            checkout_request_id=f"ws_CO_{uuid.uuid4().hex[:12]}",
        )
        session.add(deposit)
        await session.flush()
        return deposit.id


async def unknown_withdrawal(runtime: Runtime, user_id: int, amount_minor: int) -> int:
    """A payout whose answer was lost: its amount held, as start_withdrawal holds it."""
    async with runtime.db.unit_of_work() as session:
        ledger = Ledger(session)
        wallet = await ledger.wallet(user_id, "KES", for_update=True)
        pending = await ledger.system_account(AccountKind.PENDING_WITHDRAWALS, "KES")
        originator = f"GHW-{uuid.uuid4().hex[:24]}"
        hold = await ledger.post(
            Category.WITHDRAWAL,
            [Posting(wallet, -amount_minor), Posting(pending, amount_minor)],
            reference=f"withdrawal-hold:{originator}",
            description="M-Pesa withdrawal",
        )
        withdrawal = Withdrawal(
            user_id=user_id,
            amount=amount_minor,
            currency="KES",
            phone="254708374149",
            status="unknown",
            originator_conversation_id=originator,
            hold_transaction_id=hold.id,
            query_attempts=0,
        )
        session.add(withdrawal)
        await session.flush()
        return withdrawal.id
