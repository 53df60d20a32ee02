"""Finding and helping players: search, the player's file, deactivation, reactivation,
forced logout, unlock and notes, each with its audit row, and none for what failed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from gamehub.admin.repository import AdminRepository
from gamehub.models import AuditLog, User
from tests.admin.support import audit_rows, decoded, staff
from tests.stats.support import players
from tests.support.api import PASSWORD, register, unique_name
from tests.support.apps import Served
from tests.wallet.support import fund


async def play(api: Served, headers: dict[str, str], times: int = 1) -> None:
    for _ in range(times):
        response = await api.client.post(
            "/games/spin-and-win/play", headers=headers, json={"bet_amount": 10}
        )
        assert response.status_code == 200, response.text


async def test_players_are_found_by_part_of_their_name_email_or_phone(api: Served) -> None:
    support = await staff(api, "support")
    name = unique_name("Wanjiru")
    body = await register(api.client, name, email=f"{name}@Example.com", phone="0712345678")
    for query in (name.upper(), f"{name}@example", "12345678"):
        response = await api.client.get(
            "/admin/players", headers=support.headers, params={"q": query}
        )
        assert response.status_code == 200, response.text
        assert body["id"] in [p["id"] for p in response.json()["items"]], query
    # A LIKE wildcard is a character like any other.
    none = await api.client.get("/admin/players", headers=support.headers, params={"q": "%_%"})
    assert none.json()["items"] == []


async def test_the_search_pages_with_x_next_cursor(api: Served) -> None:
    support = await staff(api, "support")
    tag = unique_name("paged")
    for index in range(3):
        await register(api.client, f"{tag}{index}")
    seen: list[int] = []
    params: dict[str, Any] = {"q": tag, "limit": 2}
    while True:
        response = await api.client.get("/admin/players", headers=support.headers, params=params)
        seen += [p["id"] for p in response.json()["items"]]
        cursor = response.headers.get("x-next-cursor")
        assert response.json()["next_cursor"] == cursor
        if cursor is None:
            break
        params["cursor"] = cursor
    assert len(seen) == len(set(seen)) == 3


async def test_a_blank_search_is_422(api: Served) -> None:
    support = await staff(api, "support")
    response = await api.client.get("/admin/players", headers=support.headers, params={"q": " "})
    assert response.status_code == 422


async def test_the_players_file_holds_profile_wallet_lists_and_never_a_secret(
    api: Served,
) -> None:
    support = await staff(api, "support")
    (player,) = await players(api.client, 1)
    await fund(api.runtime, player.username, 10_000)
    await play(api, player.headers, 2)
    await api.client.post(
        f"/admin/players/{player.id}/notes", headers=support.headers, json={"body": "Called"}
    )
    response = await api.client.get(f"/admin/players/{player.id}", headers=support.headers)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["account"]["username"] == player.username
    assert "password_hash" not in view["account"]
    assert "api_token_hash" not in view["account"]
    assert view["wallet"]["currency"] == "KES"
    assert view["roles"] == []
    assert len(view["bets"]) == 2
    assert [line["category"] for line in view["ledger"]][-1] == "adjustment"
    assert view["notes"][0]["body"] == "Called"
    assert len(view["logins"]) == 1
    assert "token_hash" not in view["logins"][0]
    assert view["deposits"] == view["withdrawals"] == []


@pytest.mark.parametrize("kind", ["ledger", "bets", "logins", "notes"])
async def test_each_list_of_a_player_pages_to_its_end(api: Served, kind: str) -> None:
    support = await staff(api, "support")
    (player,) = await players(api.client, 1)
    await fund(api.runtime, player.username, 10_000)
    await play(api, player.headers, 3)
    for index in range(3):
        await api.client.post("/login", json={"username": player.username, "password": PASSWORD})
        await api.client.post(
            f"/admin/players/{player.id}/notes",
            headers=support.headers,
            json={"body": f"note {index}"},
        )
    ids: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = await api.client.get(
            f"/admin/players/{player.id}/records/{kind}", headers=support.headers, params=params
        )
        assert response.status_code == 200, response.text
        ids += [row["id"] for row in response.json()["items"]]
        if (cursor := response.headers.get("x-next-cursor")) is None:
            break
        params["cursor"] = cursor
    assert len(ids) == len(set(ids)) >= 3
    assert ids == sorted(ids, reverse=True)


async def test_a_list_that_does_not_exist_is_422_and_a_player_who_does_not_is_404(
    api: Served,
) -> None:
    support = await staff(api, "support")
    response = await api.client.get(
        f"/admin/players/{support.id}/records/secrets", headers=support.headers
    )
    assert response.status_code == 422
    assert "kind: must be one of" in response.json()["detail"]
    missing = await api.client.get("/admin/players/2147483000", headers=support.headers)
    assert missing.status_code == 404
    assert missing.json()["error"] == "PlayerNotFound"


async def test_deactivation_ends_the_players_session_and_is_audited(api: Served) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    response = await api.client.post(
        f"/admin/players/{player.id}/deactivate",
        headers={**admin.headers, "X-Forwarded-For": "10.9.9.9"},
        json={"reason": "Fraud report 17"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert (await api.client.get("/me", headers=player.headers)).status_code == 401
    login = await api.client.post(
        "/login", json={"username": player.username, "password": PASSWORD}
    )
    assert login.status_code == 403

    (row,) = await audit_rows(api.runtime, player.id)
    assert row.action == "deactivate"
    assert row.actor == f"user:{admin.username}"
    assert row.reason == "Fraud report 17"
    assert decoded(row.before) == {"is_active": True}
    assert decoded(row.after) == {"is_active": False}
    # No trusted proxy is configured: the peer's own address is recorded, not the header's.
    assert row.client_ip == "127.0.0.1"

    # Read back through the API, newest first.
    listed = await api.client.get(
        "/admin/audit",
        headers=admin.headers,
        params={"target_kind": "user", "target_id": str(player.id)},
    )
    (item,) = listed.json()["items"]
    assert item["action"] == "deactivate"
    assert item["before"] == {"is_active": True}


async def test_a_change_that_fails_leaves_no_audit_row(api: Served) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    path = f"/admin/players/{player.id}/deactivate"
    await api.client.post(path, headers=admin.headers, json={"reason": "first"})
    again = await api.client.post(path, headers=admin.headers, json={"reason": "second"})
    assert again.status_code == 409
    assert again.json()["error"] == "UserAlreadyDeactivated"
    assert [r.reason for r in await audit_rows(api.runtime, player.id)] == ["first"]


async def test_an_audit_row_that_cannot_be_written_undoes_the_change(
    api: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)

    async def add_audit_without_actor(self: AdminRepository, row: AuditLog) -> None:
        # The database itself refuses the row: actor is NOT NULL.
        row.actor = None  # type: ignore[assignment]
        self.session.add(row)
        await self.session.flush()

    monkeypatch.setattr(AdminRepository, "add_audit", add_audit_without_actor)
    response = await api.client.post(
        f"/admin/players/{player.id}/deactivate", headers=admin.headers, json={"reason": "x"}
    )
    assert response.status_code == 500
    async with api.runtime.db.unit_of_work() as session:
        assert await session.scalar(select(User.is_active).where(User.id == player.id)) is True
    assert await audit_rows(api.runtime, player.id) == []
    assert (await api.client.get("/me", headers=player.headers)).status_code == 200


async def test_reactivation_lets_the_player_log_in_again(api: Served) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    base = f"/admin/players/{player.id}"
    early = await api.client.post(f"{base}/reactivate", headers=admin.headers, json={"reason": "r"})
    assert early.status_code == 409
    assert early.json()["error"] == "UserAlreadyActive"
    await api.client.post(f"{base}/deactivate", headers=admin.headers, json={"reason": "a"})
    response = await api.client.post(
        f"{base}/reactivate", headers=admin.headers, json={"reason": "appeal upheld"}
    )
    assert response.status_code == 200, response.text
    login = await api.client.post(
        "/login", json={"username": player.username, "password": PASSWORD}
    )
    assert login.status_code == 200
    # The old session stays ended.
    assert (await api.client.get("/me", headers=player.headers)).status_code == 401
    actions = [(r.action, decoded(r.after)) for r in await audit_rows(api.runtime, player.id)]
    assert actions == [
        ("deactivate", {"is_active": False}),
        ("reactivate", {"is_active": True}),
    ]


async def test_an_operator_cannot_deactivate_or_log_out_themselves(api: Served) -> None:
    admin = await staff(api, "admin")
    for action in ("deactivate", "logout", "erase"):
        response = await api.client.post(
            f"/admin/players/{admin.id}/{action}", headers=admin.headers, json={"reason": "x"}
        )
        assert response.status_code == 409, action
        assert response.json()["error"] == "NotOnYourself"


async def test_a_forced_logout_revokes_every_token_but_keeps_the_account(api: Served) -> None:
    admin = await staff(api, "admin")
    body = await register(api.client)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    api_token = (await api.client.post("/api-token", headers=headers)).json()["api_token"]
    response = await api.client.post(
        f"/admin/players/{body['id']}/logout", headers=admin.headers, json={"reason": "stolen"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is True
    assert (await api.client.get("/me", headers=headers)).status_code == 401
    assert (await api.client.get("/me", headers={"X-API-Token": api_token})).status_code == 401
    refreshed = await api.client.post(
        "/token/refresh", json={"refresh_token": body["refresh_token"]}
    )
    assert refreshed.status_code == 401
    again = await api.client.post(
        "/login", json={"username": body["username"], "password": PASSWORD}
    )
    assert again.status_code == 200
    (row,) = await audit_rows(api.runtime, body["id"])
    assert (row.action, decoded(row.before)) == ("force_logout", {"api_token": True})


async def test_support_unlocks_a_locked_name_and_it_is_audited(api: Served) -> None:
    support = await staff(api, "support")
    (player,) = await players(api.client, 1)
    for _ in range(2):
        await api.client.post("/login", json={"username": player.username, "password": "wrong"})
    locked = await api.client.post(
        "/login", json={"username": player.username, "password": PASSWORD}
    )
    assert locked.status_code == 429, locked.text
    view = (await api.client.get(f"/admin/players/{player.id}", headers=support.headers)).json()
    assert view["login_locks"]
    response = await api.client.post(f"/admin/players/{player.id}/unlock", headers=support.headers)
    assert response.status_code == 200, response.text
    assert response.json()["records_cleared"] >= 1
    login = await api.client.post(
        "/login", json={"username": player.username, "password": PASSWORD}
    )
    assert login.status_code == 200
    (row,) = await audit_rows(api.runtime, player.id)
    assert row.action == "unlock"
    assert decoded(row.after)["records_cleared"] >= 1


async def test_a_note_is_kept_with_its_author_and_audited(api: Served) -> None:
    support = await staff(api, "support")
    (player,) = await players(api.client, 1)
    response = await api.client.post(
        f"/admin/players/{player.id}/notes",
        headers=support.headers,
        json={"body": "Asked about limits"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["author"] == f"user:{support.username}"
    blank = await api.client.post(
        f"/admin/players/{player.id}/notes", headers=support.headers, json={"body": "  "}
    )
    assert blank.status_code == 422
    (row,) = await audit_rows(api.runtime, player.id)
    assert row.action == "add_note"
    # The note itself stays in the player's file (erased with it), not in the trail.
    assert decoded(row.after) == {"note_id": response.json()["id"]}


async def test_the_audit_log_pages_newest_first_and_filters_by_action(api: Served) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    notes = []
    for index in range(3):
        note = await api.client.post(
            f"/admin/players/{player.id}/notes", headers=admin.headers, json={"body": f"{index}"}
        )
        notes.append(note.json()["id"])
    first = await api.client.get(
        "/admin/audit",
        headers=admin.headers,
        params={"action": "add_note", "target_id": str(player.id), "limit": 2},
    )
    items = first.json()["items"]
    assert [i["after"]["note_id"] for i in items] == sorted(notes, reverse=True)[:2]
    rest = await api.client.get(
        "/admin/audit",
        headers=admin.headers,
        params={
            "action": "add_note",
            "target_id": str(player.id),
            "cursor": first.headers["x-next-cursor"],
        },
    )
    assert [i["after"]["note_id"] for i in rest.json()["items"]] == [min(notes)]
    assert "x-next-cursor" not in rest.headers
