"""Who is calling: a bearer access token or an API token, resolved to an active user."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.repository import AccountRepository
from gamehub.accounts.service import revoked_family_key, revoked_jti_key
from gamehub.accounts.tokens import AccessClaims, digest
from gamehub.core.db import DbSession
from gamehub.core.runtime import Runtime, RuntimeDep
from gamehub.errors import Forbidden, Unauthorized
from gamehub.models import User

# Routes an account with an unverified email may use when verification is required.
ALLOW_UNVERIFIED = "allow_unverified"
# Recording every API-token use would write on every request; once a minute is enough.
API_TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Identity:
    user: User
    # None when the caller authenticated with an API token.
    claims: AccessClaims | None


def provide_runtime(state: State) -> Runtime:
    runtime: RuntimeDep = state.runtime
    return runtime


def client_ip(request: Request[Any, Any, Any], trusted_proxies: list[str]) -> str:
    """The peer address, or X-Forwarded-For's last untrusted hop behind our own proxies."""
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted_proxies:
        return peer
    forwarded = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in forwarded if h]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        if hop not in trusted_proxies:
            return hop
    return peer


async def provide_identity(
    request: Request[Any, Any, Any], db_session: DbSession, runtime: RuntimeDep
) -> Identity:
    api_token = request.headers.get("x-api-token")
    authorization = request.headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if api_token is None and scheme.lower() == "bearer":
        credential = credential.strip()
        if credential.startswith(runtime.settings.api_token_prefix):
            api_token = credential
        elif credential:
            identity = await _from_access_token(credential, db_session, runtime)
            return _checked(identity, request, runtime)
    if api_token:
        identity = await _from_api_token(api_token, db_session)
        return _checked(identity, request, runtime)
    raise Unauthorized()


async def _from_access_token(token: str, session: AsyncSession, runtime: Runtime) -> Identity:
    claims = runtime.access_tokens.decode(token)
    if await runtime.cache.get(revoked_jti_key(claims.jti)) is not None or (
        claims.family_id and await _family_revoked(session, runtime, claims.family_id)
    ):
        raise Unauthorized("Access token has been revoked")
    user = await AccountRepository(session).user_by_id(claims.user_id)
    if user is None:
        raise Unauthorized("Invalid access token")
    valid_after = user.sessions_valid_after
    if valid_after is not None and claims.issued_at < valid_after.timestamp():
        raise Unauthorized("Access token has been revoked")
    return Identity(user, claims)


async def _from_api_token(token: str, session: AsyncSession) -> Identity:
    user = await AccountRepository(session).user_by_api_token_hash(digest(token))
    if user is None:
        raise Unauthorized("Invalid API token")
    now = datetime.now(UTC)
    last_used = user.api_token_last_used_at
    if last_used is None or now - last_used > API_TOKEN_TOUCH_INTERVAL:
        user.api_token_last_used_at = now
    return Identity(user, None)


async def credential_user(
    session: AsyncSession, runtime: Runtime, user_id: int, issued_at: float, family_id: str | None
) -> User | None:
    """The active user whose credential (issued at ``issued_at``: an access token of
    session ``family_id``, or the API token when None) nothing has revoked since."""
    user = await AccountRepository(session).user_by_id(user_id)
    if user is None or not user.is_active:
        return None
    valid_after = user.sessions_valid_after
    if valid_after is not None and issued_at < valid_after.timestamp():
        return None
    if family_id is None:
        # Deleted, or replaced by a newer API token.
        created = user.api_token_created_at
        return None if created is None or created.timestamp() > issued_at else user
    if await _family_revoked(session, runtime, family_id):
        return None
    return user


async def _family_revoked(session: AsyncSession, runtime: Runtime, family_id: str) -> bool:
    """The cache answers; while it is degraded (Redis out of reach) it may not know what
    another worker revoked, so the database, where every revocation also lives, does."""
    if await runtime.cache.get(revoked_family_key(family_id)) is not None:
        return True
    return runtime.cache.degraded() and await AccountRepository(session).family_revoked(family_id)


def credential_issued_at(identity: Identity) -> float:
    """When the caller's credential was issued."""
    if identity.claims is not None:
        return identity.claims.issued_at
    created = identity.user.api_token_created_at
    assert created is not None, "an API token is only found through its stored digest"
    return created.timestamp()


def _checked(
    identity: CurrentIdentity, request: Request[Any, Any, Any], runtime: RuntimeDep
) -> Identity:
    user = identity.user
    if not user.is_active:
        raise Unauthorized("This account is disabled")
    if (
        runtime.settings.email_verification_required
        and not user.email_verified
        and not request.route_handler.opt.get(ALLOW_UNVERIFIED, False)
    ):
        raise Forbidden("Verify your email address first (POST /email/verify/request)")
    return identity


# The authenticated caller, injected by name into handlers that declare it.
CurrentIdentity: TypeAlias = NamedDependency[Identity]
