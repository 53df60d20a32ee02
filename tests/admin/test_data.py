"""The data protection law's two rights: a copy of everything held about a player (for
the player at GET /me/export, for an admin, audited) and erasure of the personal data,
with the ledger and the bets kept."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from gamehub.models import Account, Bet, LedgerEntry, User
from gamehub.wallet.verify import verify_ledger
from tests.admin.support import audit_rows, decoded, expired_deposit, staff
from tests.admin.test_players import play
from tests.stats.support import players
from tests.support.api import PASSWORD, register, unique_name
from tests.support.apps import Served
from tests.wallet.support import fund

SECRETS = ("password_hash", "api_token_hash", "token_hash", "callback_token", "status_token")


async def test_a_player_exports_everything_held_about_them(api: Served) -> None:
    support = await staff(api, "support")
    name = unique_name()
    body = await register(api.client, name, email=f"{name}@example.com", phone="0712000111")
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    await fund(api.runtime, name, 10_000)
    await play(api, headers, 2)
    await expired_deposit(api.runtime, body["id"], 1_000)
    await api.client.post(
        f"/admin/players/{body['id']}/notes", headers=support.headers, json={"body": "VIP"}
    )
    response = await api.client.get("/me/export", headers=headers)
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["account"]["email"] == f"{name}@example.com"
    assert export["account"]["phone"] == "0712000111"
    assert export["wallet"]["currency"] == "KES"
    assert len(export["bets"]) == 2
    assert len(export["deposits"]) == 1
    assert export["notes"][0]["body"] == "VIP"
    assert {"ledger", "withdrawals", "logins", "fairness_seeds", "profile"} <= set(export)
    # The unrevealed server seed would let the player predict their next spins.
    assert all("server_seed" not in seed for seed in export["fairness_seeds"])
    text = json.dumps(export)
    for secret in SECRETS:
        assert secret not in text
    # The player's own export is no operator action.
    assert [r.action for r in await audit_rows(api.runtime, body["id"])] == ["add_note"]


async def test_an_admins_export_is_the_same_and_is_audited(api: Served) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    mine = (await api.client.get("/me/export", headers=player.headers)).json()
    theirs = await api.client.get(f"/admin/players/{player.id}/export", headers=admin.headers)
    assert theirs.status_code == 200
    assert theirs.json()["account"] == mine["account"]
    (row,) = await audit_rows(api.runtime, player.id)
    assert (row.action, row.actor) == ("export", f"user:{admin.username}")


async def test_erasure_is_refused_while_the_account_holds_money(api: Served) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    await fund(api.runtime, player.username, 500)
    response = await api.client.post(
        f"/admin/players/{player.id}/erase", headers=admin.headers, json={"reason": "asked"}
    )
    assert response.status_code == 409
    assert response.json()["error"] == "PlayerHoldsFunds"
    assert (await api.client.get("/me", headers=player.headers)).status_code == 200
    assert await audit_rows(api.runtime, player.id) == []


async def test_erasure_removes_the_person_and_keeps_the_ledger_and_bets(api: Served) -> None:
    admin = await staff(api, "admin")
    name = unique_name()
    body = await register(api.client, name, email=f"{name}@example.com", phone="0712000222")
    user_id = body["id"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    await api.client.patch("/profile", headers=headers, json={"bio": "I like spins"})
    await fund(api.runtime, name, 1_000)
    await play(api, headers, 1)
    await api.client.post(
        f"/admin/players/{user_id}/notes", headers=admin.headers, json={"body": "private"}
    )
    # Whatever is left is paid out first (here: taken back by an adjustment).
    left = (await api.client.get("/wallet", headers=headers)).json()["balance"]
    if left:
        await api.client.post(
            f"/admin/players/{user_id}/adjust",
            headers=admin.headers,
            json={"amount": -left, "reason": "paid out before erasure"},
        )

    response = await api.client.post(
        f"/admin/players/{user_id}/erase",
        headers=admin.headers,
        json={"reason": "Data subject request 2026-12"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["username"] == f"deleted-{user_id}"

    assert (await api.client.get("/me", headers=headers)).status_code == 401
    login = await api.client.post("/login", json={"username": name, "password": PASSWORD})
    assert login.status_code == 401
    assert (await api.client.get(f"/user/{name}")).status_code == 404
    # The name is free again, for someone else.
    again = await api.client.post("/register", json={"username": name, "password": PASSWORD})
    assert again.status_code == 201, again.text
    async with api.runtime.db.unit_of_work() as session:
        user = await session.get(User, user_id)
        assert user is not None
        assert (user.email, user.phone, user.full_name, user.is_active) == (None, None, None, False)
        assert user.deleted_at is not None
        bets = await session.scalar(select(func.count(Bet.id)).where(Bet.user_id == user_id))
        assert bets == 1
        lines = await session.scalar(
            select(func.count(LedgerEntry.id))
            .join(Account, Account.id == LedgerEntry.account_id)
            .where(Account.user_id == user_id)
        )
        # The credit and the spin at least (and the adjustment that emptied the wallet).
        assert lines is not None
        assert lines >= 2
        assert (await verify_ledger(session)).ok
    gone = await api.client.get(f"/admin/players/{user_id}", headers=admin.headers)
    assert gone.status_code == 404

    rows = await audit_rows(api.runtime, user_id)
    erase = rows[-1]
    assert (erase.action, erase.reason) == ("erase", "Data subject request 2026-12")
    # The trail of the erasure does not keep what was erased.
    trail = json.dumps([decoded(erase.before), decoded(erase.after)])
    assert name not in trail
    assert "example.com" not in trail
