"""Operator actions run from the command line."""

from __future__ import annotations

import msgspec

from gamehub.accounts.schemas import RegisterIn
from gamehub.accounts.service import AccountService
from gamehub.core.runtime import Runtime
from gamehub.errors import GamehubError
from gamehub.models.protection import KycStatus
from gamehub.protection.service import Operators


async def create_admin(runtime: Runtime, username: str, password: str, email: str | None) -> bool:
    """Register ``username`` as an administrator; promote it if it exists. True if created."""
    async with runtime.db.unit_of_work() as session:
        accounts = AccountService(session, runtime)
        if await accounts.promote_to_admin(username):
            return False
        try:
            data = msgspec.convert(
                {"username": username, "password": password, "email": email}, RegisterIn
            )
            user, _ = await accounts.register(data)
        except (msgspec.ValidationError, GamehubError) as exc:
            raise ValueError(str(exc)) from exc
        user.is_admin = True
        user.email_verified = email is not None
        return True


async def unlock_user(runtime: Runtime, username: str) -> int:
    """Clear every login lock of ``username``; how many records were cleared."""
    async with runtime.db.unit_of_work() as session:
        return await AccountService(session, runtime).unlock(username)


async def deactivate_user(runtime: Runtime, username: str, actor: str) -> None:
    """Disable ``username``, ending its sessions and streams on every worker."""
    async with runtime.db.unit_of_work() as session:
        await AccountService(session, runtime).deactivate(username, actor)


async def set_kyc(runtime: Runtime, username: str, status: KycStatus) -> None:
    """Record the outcome of ``username``'s identity check (the local KYC provider)."""
    async with runtime.db.unit_of_work() as session:
        user_id = await AccountService(session, runtime).user_id_named(username)
        await Operators(session, runtime).set_kyc_status(user_id, status)
