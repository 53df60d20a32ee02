"""Who is calling: a bearer access token or an API token, resolved to an active user."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeAlias

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.accounts.errors import (
    AccessTokenRevoked,
    AuthenticationRequired,
    EmailNotVerified,
    InvalidApiToken,
)
from gamehub.accounts.repository import AccountReads, AccountRepository, user_state
from gamehub.accounts.service import revoked_family_key, revoked_jti_key
from gamehub.accounts.state import UserState, decode_state, encode_state, state_key, state_ttl
from gamehub.core.cache import VERSION_SUFFIX, generation_of, put_versioned, versioned_value
from gamehub.core.db import note_caller
from gamehub.core.logs import note_user
from gamehub.core.runtime import Runtime, RuntimeDep
from gamehub.core.tokens import AccessClaims, InvalidAccessToken, digest
from gamehub.models import User

IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

# Routes an account with an unverified email may use when verification is required.
ALLOW_UNVERIFIED = "allow_unverified"
# Recording every API-token use would write on every request; once a minute is enough.
API_TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, as the credential checks found them: the user's id, not the user
    row, so that a route that needs only the id (a spin) costs no user SELECT; the routes
    that need more load it with :func:`load_user`."""

    user_id: int
    # None when the caller authenticated with an API token.
    claims: AccessClaims | None
    # When the API token in use was created; None for an access token.
    api_token_created_at: datetime | None = None


async def load_user(session: AsyncSession, identity: Identity) -> User:
    """The caller's user row, for the routes that need more than its id."""
    user = await AccountRepository(session).user_by_id(identity.user_id)
    if user is None:
        raise InvalidAccessToken()
    return user


def provide_runtime(state: State) -> Runtime:
    runtime: RuntimeDep = state.runtime
    return runtime


@lru_cache(maxsize=8)
def _networks(trusted_proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    # The settings checked every entry at start-up.
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies)


def _trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request: ASGIConnection[Any, Any, Any, Any], trusted_proxies: list[str]) -> str:
    """The peer address, or X-Forwarded-For's last untrusted hop behind our own proxies.

    Only a peer among ``trusted_proxies`` (addresses or networks) is believed about whom
    it forwards for; each further hop is believed while it is one of them too. A hop
    that is not an address ends the walk: what stands before it may be made up.
    """
    peer = request.client.host if request.client else "unknown"
    networks = _networks(tuple(trusted_proxies))
    if not _trusted(peer, networks):
        return peer
    forwarded = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in forwarded if h]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        if not _trusted(hop, networks):
            return hop
    return peer


async def provide_identity(request: Request[Any, Any, Any], runtime: RuntimeDep) -> Identity:
    """No session of its own: on a cache hit an access token costs no SQL at all, and a
    miss reads one statement on a connection without a transaction."""
    identity = await _identity(request, runtime)
    _identified(request, identity.user_id)
    return identity


def _identified(request: Request[Any, Any, Any], user_id: int) -> None:
    # The request's log lines, its access line included, name the caller from here on.
    note_user(user_id)
    # A write this request commits is the caller's own: their next reads must see it.
    note_caller(request, user_id)


# A read of the caller's own rows that also selects the columns of
# gamehub.models.user.credential_columns: (user id, session family) to its row or None.
CallerRead: TypeAlias = Callable[[int, str], Awaitable[Mapping[str, Any] | None]]


async def read_as_caller(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    read: CallerRead,
    missing: Callable[[], Exception],
) -> Mapping[str, Any]:
    """For a route whose whole work is one read of the caller's rows (GET /profile,
    GET /wallet): an access token is checked against the account's state and its
    session's revocation read by that same statement, from the database, where every
    change to them commits before it is answered. One round trip instead of the
    identity's cache lookup and then the read.

    Any other credential (an API token, an access token without a session), or no row
    (the account gone, or a row the read joins missing), takes the usual check first,
    so that each answers as it does on every other route; then the read again, and
    ``missing()`` is raised if it still finds nothing."""
    claims, _ = _credentials(request, runtime)
    if claims is not None and claims.family_id:
        row = await read(claims.user_id, claims.family_id)
        if row is not None:
            state = UserState.of(
                row["is_active"], row["email_verified"], row["sessions_valid_after"]
            )
            # A disabled account says so, though disabling it revoked its sessions too.
            revoked = row["family_revoked"] or not state.admits(claims.issued_at)
            if state.is_active and revoked:
                raise AccessTokenRevoked()
            _check(state, request, runtime)
            _identified(request, claims.user_id)
            return row
    identity = await provide_identity(request, runtime)
    row = await read(identity.user_id, "")
    if row is None:
        raise missing()
    return row


def _credentials(
    request: Request[Any, Any, Any], runtime: Runtime
) -> tuple[AccessClaims | None, str | None]:
    """The bearer access token's verified claims, or else the API token presented."""
    api_token = request.headers.get("x-api-token")
    authorization = request.headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if api_token is None and scheme.lower() == "bearer":
        credential = credential.strip()
        if credential.startswith(runtime.settings.api_token_prefix):
            api_token = credential
        elif credential:
            return runtime.access_tokens.decode(credential), None
    return None, api_token or None


async def _identity(request: Request[Any, Any, Any], runtime: Runtime) -> Identity:
    claims, api_token = _credentials(request, runtime)
    if claims is not None:
        state = await _access_token_state(claims, runtime)
        _check(state, request, runtime)
        return Identity(claims.user_id, claims)
    if api_token is not None:
        return await _from_api_token(api_token, request, runtime)
    raise AuthenticationRequired()


async def _access_token_state(claims: AccessClaims, runtime: Runtime) -> UserState:
    """The state of the token's user, once its session is known not to be revoked.

    One cache round trip asks for the token's and its family's revocation and the user's
    cached state together. While the cache is degraded it may not know what another
    worker revoked or changed, so the database, where all of it also lives, answers.
    """
    cache = runtime.cache
    user_id = claims.user_id
    key = state_key(user_id)
    keys = [key, key + VERSION_SUFFIX, revoked_jti_key(user_id, claims.jti)]
    if claims.family_id:
        keys.append(revoked_family_key(user_id, claims.family_id))
    raw_state, raw_generation, *revocations = await cache.get_many(*keys)
    if any(mark is not None for mark in revocations):
        raise AccessTokenRevoked()
    degraded = cache.degraded()
    read_under = generation_of(raw_generation)
    cached = None if degraded else versioned_value(raw_state, read_under)
    state = None if cached is None else decode_state(cached)
    if state is None:
        state = await user_state(runtime.db, user_id)
        revoked = False
        if state is not None and degraded and claims.family_id:
            async with runtime.db.reader() as connection:
                revoked = await AccountReads(connection).family_revoked(claims.family_id)
        if state is None:
            raise InvalidAccessToken()
        if revoked:
            raise AccessTokenRevoked()
        if not degraded:
            await put_versioned(cache, key, read_under, encode_state(state), state_ttl(runtime))
    if not state.admits(claims.issued_at):
        raise AccessTokenRevoked()
    return state


async def _from_api_token(
    token: str, request: Request[Any, Any, Any], runtime: Runtime
) -> Identity:
    async with runtime.db.reader() as connection:
        user = await AccountReads(connection).api_token_user(digest(token))
    if user is None:
        raise InvalidApiToken()
    _check(
        UserState.of(user["is_active"], user["email_verified"], user["sessions_valid_after"]),
        request,
        runtime,
    )
    now = runtime.clock.now()
    last_used = user["api_token_last_used_at"]
    if last_used is None or now - last_used > API_TOKEN_TOUCH_INTERVAL:
        # Its own short transaction: the use happened, whatever becomes of the request.
        async with runtime.db.unit_of_work() as session:
            await AccountRepository(session).touch_api_token(user["id"], now)
    return Identity(user["id"], None, user["api_token_created_at"])


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
    if await _family_revoked(runtime, user_id, family_id):
        return None
    return user


async def _family_revoked(runtime: Runtime, user_id: int, family_id: str) -> bool:
    """The cache answers; while it is degraded (Redis out of reach) it may not know what
    another worker revoked, so the database, where every revocation also lives, does."""
    if await runtime.cache.get(revoked_family_key(user_id, family_id)) is not None:
        return True
    if not runtime.cache.degraded():
        return False
    async with runtime.db.reader() as connection:
        return await AccountReads(connection).family_revoked(family_id)


def credential_issued_at(identity: Identity) -> float:
    """When the caller's credential was issued."""
    if identity.claims is not None:
        return identity.claims.issued_at
    created = identity.api_token_created_at
    assert created is not None, "an API token is only found through its stored digest"
    return created.timestamp()


def _check(state: UserState, request: Request[Any, Any, Any], runtime: Runtime) -> None:
    if not state.is_active:
        raise AccessTokenRevoked("This account is disabled")
    if (
        runtime.settings.email_verification_required
        and not state.email_verified
        and not request.route_handler.opt.get(ALLOW_UNVERIFIED, False)
    ):
        raise EmailNotVerified()


# The authenticated caller, injected by name into handlers that declare it.
CurrentIdentity: TypeAlias = NamedDependency[Identity]
