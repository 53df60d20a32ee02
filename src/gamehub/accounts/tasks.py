"""Account housekeeping, run by one worker of all while the app lives."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from gamehub.accounts.service import AccountService
from gamehub.core.runtime import Runtime


async def purge_login_failures(runtime: Runtime) -> int:
    async with runtime.db.unit_of_work() as session:
        return await AccountService(session, runtime).purge_login_failures()


def login_failure_purger(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    """Once per lockout window; a purge run again after one cut short is harmless."""
    return runtime.jobs.periodic(
        "login-failure-purge",
        runtime.settings.lockout_seconds,
        lambda: purge_login_failures(runtime),
    )
