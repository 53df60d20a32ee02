"""Who is calling the integration routes: a service by its key, or an operator.

A service presents its key as ``X-Service-Key: ghs_…`` or ``Authorization: Bearer
ghs_…``. Players' tokens are not service keys: with one, these routes answer 401.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeAlias

from litestar import Request
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.deps import load_user, provide_identity
from gamehub.core.db import DbSession
from gamehub.core.runtime import Runtime, RuntimeDep
from gamehub.core.tokens import digest
from gamehub.matchmaking.errors import (
    InvalidServiceKey,
    OperatorsOnly,
    ScopeMissing,
    ServiceKeyRequired,
)
from gamehub.matchmaking.repository import MatchmakingRepository
from gamehub.matchmaking.service import Scope
from gamehub.models.base import utcnow

# Recording every use would write on every call; once a minute tells operators enough.
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Caller:
    # "service:<name>" or "user:<username>", for the audit columns.
    name: str
    scopes: frozenset[str]
    # Most one game may pay out when this caller settles wallets, in minor units.
    max_payout_minor: int = 0


def _presented_key(request: Request[Any, Any, Any], prefix: str) -> str | None:
    key = request.headers.get("x-service-key")
    if key:
        return key.strip()
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential.startswith(prefix):
        return credential
    return None


async def _service(
    request: Request[Any, Any, Any], session: AsyncSession, runtime: Runtime
) -> Caller | None:
    """The calling service; None when no service key was presented."""
    key = _presented_key(request, runtime.settings.service_key_prefix)
    if key is None:
        return None
    credential = await MatchmakingRepository(session).credential_by_hash(digest(key))
    if credential is None or credential.revoked_at is not None:
        raise InvalidServiceKey()
    now = utcnow()
    if credential.last_used_at is None or now - credential.last_used_at > TOUCH_INTERVAL:
        credential.last_used_at = now
    limit = credential.max_payout_minor
    return Caller(
        f"service:{credential.name}",
        frozenset(credential.scopes.split(",")),
        runtime.settings.service_max_payout_minor if limit is None else limit,
    )


def require_scope(scope: Scope) -> Provide:
    async def provide_service(
        request: Request[Any, Any, Any], db_session: DbSession, runtime: RuntimeDep
    ) -> Caller:
        caller = await _service(request, db_session, runtime)
        if caller is None:
            raise ServiceKeyRequired()
        if scope.value not in caller.scopes:
            raise ScopeMissing(scope.value)
        return caller

    return Provide(provide_service)


async def provide_operator(
    request: Request[Any, Any, Any], db_session: DbSession, runtime: RuntimeDep
) -> Caller:
    """Any service, or an administrator's own login."""
    caller = await _service(request, db_session, runtime)
    if caller is not None:
        return caller
    user = await load_user(db_session, await provide_identity(request, runtime))
    if not user.is_admin:
        raise OperatorsOnly()
    return Caller(f"user:{user.username}", frozenset())


# The authenticated service or operator, injected by name.
CallerDep: TypeAlias = NamedDependency[Caller]
