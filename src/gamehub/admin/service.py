"""Operator actions run from the command line."""

from __future__ import annotations

import msgspec

from gamehub.accounts.repository import AccountRepository
from gamehub.accounts.schemas import RegisterIn
from gamehub.accounts.service import AccountService
from gamehub.core.runtime import Runtime
from gamehub.errors import GamehubError
from gamehub.settings import Settings


async def create_admin(settings: Settings, username: str, password: str, email: str | None) -> bool:
    """Register ``username`` as an administrator; promote it if it exists. True if created."""
    runtime = await Runtime.start(settings)
    try:
        async with runtime.db.unit_of_work() as session:
            existing = await AccountRepository(session).user_by_username(username)
            if existing is not None:
                existing.is_admin = True
                return False
            try:
                data = msgspec.convert(
                    {"username": username, "password": password, "email": email}, RegisterIn
                )
                user, _ = await AccountService(session, runtime).register(data)
            except (msgspec.ValidationError, GamehubError) as exc:
                raise ValueError(str(exc)) from exc
            user.is_admin = True
            user.email_verified = email is not None
            return True
    finally:
        await runtime.close()


async def unlock_user(settings: Settings, username: str) -> int:
    """Clear every login lock of ``username``; how many records were cleared."""
    runtime = await Runtime.start(settings)
    try:
        async with runtime.db.unit_of_work() as session:
            return await AccountService(session, runtime).unlock(username)
    finally:
        await runtime.close()


async def deactivate_user(settings: Settings, username: str, actor: str) -> None:
    """Disable ``username``, ending its sessions and streams on every worker."""
    runtime = await Runtime.start(settings)
    try:
        async with runtime.db.unit_of_work() as session:
            await AccountService(session, runtime).deactivate(username, actor)
    finally:
        await runtime.close()
