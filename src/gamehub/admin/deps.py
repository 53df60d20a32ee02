"""Who may use an admin route: a guard that runs before the request's body is read, so
that every caller without the role gets 403, whatever they sent."""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from gamehub.accounts.deps import client_ip, provide_identity
from gamehub.admin.errors import StaffOnly
from gamehub.admin.repository import AdminReads
from gamehub.admin.service import Staff
from gamehub.core.runtime import Runtime
from gamehub.models.admin import Role

_STAFF = "gamehub_staff"

# Who does what: support reads and helps, finance handles money, admin does everything.
READERS = (Role.ADMIN, Role.SUPPORT, Role.FINANCE)
SUPPORT = (Role.ADMIN, Role.SUPPORT)
FINANCE = (Role.ADMIN, Role.FINANCE)
ADMIN = (Role.ADMIN,)


def requires(*roles: Role) -> Guard:
    """A guard admitting an active account that holds one of ``roles``."""
    allowed = frozenset(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        runtime: Runtime = connection.app.state.runtime
        request: Request[Any, Any, Any] = connection  # type: ignore[assignment]
        identity = await provide_identity(request, runtime)
        async with runtime.db.reader() as reader:
            found = await AdminReads(reader).staff(identity.user_id)
        if found is None or not found[1] & allowed:
            raise StaffOnly([role.value for role in allowed])
        username, held = found
        connection.state[_STAFF] = Staff(
            f"user:{username}",
            user_id=identity.user_id,
            roles=held,
            client_ip=client_ip(connection, runtime.settings.trusted_proxies),
        )

    return guard


def provide_staff(request: Request[Any, Any, Any]) -> Staff:
    staff: Staff = request.state[_STAFF]
    return staff


# The operator the guard admitted, injected by name.
StaffDep: TypeAlias = NamedDependency[Staff]
