"""Who may use the admin API: every route refuses a caller without its role (403, before
the body is even read), roles are granted only by an admin, and the last admin stays."""

from __future__ import annotations

import re

import pytest
from litestar.handlers import HTTPRouteHandler
from sqlalchemy import select

from gamehub.admin.service import grant_role
from gamehub.models import UserRole
from tests.admin.support import audit_rows, decoded, staff
from tests.stats.support import players
from tests.support.apps import Served


def admin_routes(api: Served) -> list[tuple[str, str]]:
    """Every admin operation, with its path parameters filled in."""
    found: list[tuple[str, str]] = []
    for route in api.app.routes:
        if not route.path.startswith("/admin"):
            continue
        path = re.sub(r"\{\w+:int\}", "1", route.path)
        path = re.sub(r"\{kind:str\}", "deposit", path)
        path = re.sub(r"\{\w+:str\}", "someone", path)
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                found += [
                    (str(method), path)
                    for method in sorted(handler.http_methods)
                    if method in ("GET", "POST", "PATCH", "DELETE")
                ]
    return found


async def test_the_admin_api_has_the_routes_the_docs_describe(api: Served) -> None:
    assert len(admin_routes(api)) == 27


async def test_a_player_gets_403_on_every_admin_route(api: Served) -> None:
    (player,) = await players(api.client, 1)
    for method, path in admin_routes(api):
        # An empty body: the role is checked before the body is read.
        response = await api.client.request(method, path, headers=player.headers, json={})
        assert response.status_code == 403, (method, path, response.text)
        body = response.json()
        assert body["error"] == "StaffOnly"
        assert "admin" in body["roles"]


async def test_without_credentials_every_admin_route_is_401(api: Served) -> None:
    for method, path in admin_routes(api):
        response = await api.client.request(method, path, json={})
        assert response.status_code == 401, (method, path)


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        (
            "support",
            ["/admin/players?q=x", "/admin/players/{id}/unlock"],
            ["/admin/audit", "/admin/reports", "/admin/players/{id}/adjust"],
        ),
        (
            "finance",
            ["/admin/players?q=x", "/admin/reports", "/admin/players/{id}/adjust"],
            ["/admin/audit", "/admin/players/{id}/unlock", "/admin/players/{id}/deactivate"],
        ),
    ],
)
async def test_support_and_finance_reach_only_their_routes(
    api: Served, role: str, allowed: list[str], refused: list[str]
) -> None:
    operator = await staff(api, role)
    (player,) = await players(api.client, 1)
    bodies = {"adjust": {"amount": 1, "reason": "goodwill"}, "deactivate": {"reason": "r"}}

    async def call(path: str) -> int:
        path = path.replace("{id}", str(player.id))
        action = path.rsplit("/", 1)[-1]
        if action in ("unlock", "adjust", "deactivate"):
            response = await api.client.post(
                path, headers=operator.headers, json=bodies.get(action, {})
            )
        else:
            response = await api.client.get(path, headers=operator.headers)
        return response.status_code

    for path in allowed:
        assert await call(path) in (200, 201), path
    for path in refused:
        assert await call(path) == 403, path


async def test_an_admin_grants_and_revokes_roles_and_each_change_is_audited(
    api: Served,
) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    granted = await api.client.post(
        f"/admin/users/{player.username}/roles", headers=admin.headers, json={"role": "finance"}
    )
    assert granted.status_code == 201, granted.text
    assert granted.json() == {"username": player.username, "roles": ["finance"]}
    # The new finance operator reaches the reports at once.
    assert (await api.client.get("/admin/reports", headers=player.headers)).status_code == 200

    again = await api.client.post(
        f"/admin/users/{player.username}/roles", headers=admin.headers, json={"role": "finance"}
    )
    assert again.status_code == 409
    assert again.json()["error"] == "RoleAlreadyHeld"
    revoked = await api.client.delete(
        f"/admin/users/{player.username}/roles/finance", headers=admin.headers
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["roles"] == []
    assert (await api.client.get("/admin/reports", headers=player.headers)).status_code == 403

    rows = await audit_rows(api.runtime, player.id)
    assert [(r.action, r.actor, r.actor_id) for r in rows] == [
        ("grant_role", f"user:{admin.username}", admin.id),
        ("revoke_role", f"user:{admin.username}", admin.id),
    ]
    assert decoded(rows[0].before) == {"roles": []}
    assert decoded(rows[0].after) == {"roles": ["finance"]}
    assert rows[0].client_ip == "127.0.0.1"


async def test_granting_admin_sets_is_admin_so_the_operator_routes_open_too(
    api: Served,
) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    assert (await api.client.get("/me", headers=player.headers)).json()["is_admin"] is False
    await api.client.post(
        f"/admin/users/{player.username}/roles", headers=admin.headers, json={"role": "admin"}
    )
    assert (await api.client.get("/me", headers=player.headers)).json()["is_admin"] is True
    assert (await api.client.get("/sessions", headers=player.headers)).status_code == 200


@pytest.mark.parametrize("role", ["support", "finance"])
async def test_no_role_is_granted_by_someone_who_is_not_an_admin(api: Served, role: str) -> None:
    operator = await staff(api, role)
    for wanted in ("admin", role, "support"):
        response = await api.client.post(
            f"/admin/users/{operator.username}/roles",
            headers=operator.headers,
            json={"role": wanted},
        )
        assert response.status_code == 403, wanted
    async with api.runtime.db.unit_of_work() as session:
        held = await session.scalars(select(UserRole.role).where(UserRole.user_id == operator.id))
        assert list(held) == [role]
    # Only the command line's own grant is on record.
    assert [r.actor for r in await audit_rows(api.runtime, operator.id)] == ["cli:tests"]


async def test_an_unknown_role_is_422(api: Served) -> None:
    admin = await staff(api, "admin")
    response = await api.client.post(
        f"/admin/users/{admin.username}/roles", headers=admin.headers, json={"role": "root"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "UnknownRole"


async def test_the_last_admin_cannot_remove_their_own_admin_role(api: Served) -> None:
    admin = await staff(api, "admin")
    # Every other admin of the shared test database steps down first, so this one is last.
    async with api.runtime.db.unit_of_work() as session:
        others = await session.scalars(
            select(UserRole).where(UserRole.role == "admin", UserRole.user_id != admin.id)
        )
        for row in others:
            await session.delete(row)
    path = f"/admin/users/{admin.username}/roles/admin"
    refused = await api.client.delete(path, headers=admin.headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "LastAdmin"
    assert [r.action for r in await audit_rows(api.runtime, admin.id)] == ["grant_role"]

    second = await staff(api, "admin")
    stepped_down = await api.client.delete(path, headers=admin.headers)
    assert stepped_down.status_code == 200, stepped_down.text
    # Now the second is the last one.
    last = await api.client.delete(
        f"/admin/users/{second.username}/roles/admin", headers=second.headers
    )
    assert last.json()["error"] == "LastAdmin"


async def test_an_admin_may_take_the_admin_role_from_another_admin(api: Served) -> None:
    admin, other = await staff(api, "admin"), await staff(api, "admin")
    response = await api.client.delete(
        f"/admin/users/{other.username}/roles/admin", headers=admin.headers
    )
    assert response.status_code == 200
    assert (await api.client.get("/admin/audit", headers=other.headers)).status_code == 403


async def test_a_deactivated_admin_is_refused(api: Served) -> None:
    admin, other = await staff(api, "admin"), await staff(api, "admin")
    response = await api.client.post(
        f"/admin/players/{other.id}/deactivate", headers=admin.headers, json={"reason": "left"}
    )
    assert response.status_code == 200, response.text
    refused = await api.client.get("/admin/audit", headers=other.headers)
    assert refused.status_code == 401


async def test_the_cli_grant_is_audited_as_the_command_line(api: Served) -> None:
    (player,) = await players(api.client, 1)
    assert await grant_role(api.runtime, player.username, "support", "ops") == {"support"}
    (row,) = await audit_rows(api.runtime, player.id)
    assert (row.action, row.actor, row.actor_id, row.client_ip) == (
        "grant_role",
        "cli:ops",
        None,
        None,
    )
