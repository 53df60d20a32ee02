"""A player's protection by hand: KYC status, a time-out or self-exclusion lifted by legal
order, a phone verified as the player's, a phone shared by a second account. Admins only,
each with its audit row (before and after), and none for what failed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from gamehub.admin.service import grant_role
from tests.admin.support import audit_rows, decoded, staff
from tests.admin.test_players import play
from tests.stats.support import Player, players
from tests.support.api import ADULT_DOB, PASSWORD, register, unique_name
from tests.support.apps import Served
from tests.wallet.support import fund

UNKNOWN_PLAYER = 2_000_000_000
LEGAL_ORDER = "High Court order HCCC E123/2026"


def unique_phone() -> tuple[str, str]:
    """A Safaricom number no other test uses, as a player types it and in M-Pesa's form."""
    digits = f"{uuid.uuid4().int % 10**8:08d}"
    return f"07{digits}", f"2547{digits}"


# Each route on a player, with a body it accepts.
PLAYER_ROUTES = {
    "kyc": {"status": "verified", "reason": "Passport seen, ticket 12"},
    "lift-exclusion": {"reason": LEGAL_ORDER},
    "phones/verify": {"phone": "0708374149", "reason": "Called the number"},
}


async def post(api: Served, who: Player, path: str, body: Any) -> Any:
    return await api.client.post(path, headers=who.headers, json=body)


async def test_an_admin_sets_kyc_and_the_players_file_shows_it(api: Served) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    path = f"/admin/players/{player.id}/kyc"
    done = await post(api, admin, path, {"status": "verified", "reason": "Passport seen"})
    assert done.status_code == 200, done.text
    assert done.json()["kyc_status"] == "verified"
    view = (await api.client.get(f"/admin/players/{player.id}", headers=admin.headers)).json()
    assert view["controls"]["kyc_status"] == "verified"
    assert view["controls"]["limits"] == []
    await post(api, admin, path, {"status": "rejected", "reason": "Forged document"})
    rows = await audit_rows(api.runtime, player.id)
    assert [(r.action, decoded(r.before), decoded(r.after), r.reason) for r in rows] == [
        ("set_kyc", {"kyc_status": "unverified"}, {"kyc_status": "verified"}, "Passport seen"),
        ("set_kyc", {"kyc_status": "verified"}, {"kyc_status": "rejected"}, "Forged document"),
    ]
    assert {(r.actor, r.actor_id, r.client_ip) for r in rows} == {
        (f"user:{admin.username}", admin.id, "127.0.0.1")
    }


@pytest.mark.parametrize(
    "body",
    [
        {"status": "maybe", "reason": "r"},
        {"status": "verified"},
        {"status": "verified", "reason": " "},
        {"reason": "r"},
        {"status": 1, "reason": "r"},
    ],
)
async def test_a_kyc_status_must_be_known_and_have_a_reason(api: Served, body: Any) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    refused = await post(api, admin, f"/admin/players/{player.id}/kyc", body)
    assert refused.status_code in (400, 422), refused.text
    assert await audit_rows(api.runtime, player.id) == []


async def test_a_time_out_is_lifted_by_legal_order_and_play_resumes(api: Served) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    await fund(api.runtime, player.username, 10_000)
    taken = await api.client.put(
        "/responsible-gaming", headers=player.headers, json={"time_out_hours": 48}
    )
    ends = taken.json()["time_out_until"]
    refused = await api.client.post(
        "/games/spin-and-win/play", headers=player.headers, json={"bet_amount": 10}
    )
    assert refused.status_code == 403

    path = f"/admin/players/{player.id}/lift-exclusion"
    assert (await post(api, admin, path, {"reason": " "})).status_code in (400, 422)
    assert (await post(api, admin, path, {})).status_code in (400, 422)
    lifted = await post(api, admin, path, {"reason": LEGAL_ORDER})
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["time_out_until"] is None
    await play(api, player.headers)
    (row,) = await audit_rows(api.runtime, player.id)
    assert (row.action, row.reason) == ("lift_exclusion", LEGAL_ORDER)
    before = decoded(row.before)
    assert before["excluded_permanently"] is False
    assert before["time_out_until"][:16] == ends.replace("T", " ")[:16]
    assert decoded(row.after) == {
        "time_out_until": None,
        "excluded_until": None,
        "excluded_permanently": False,
    }
    # Nothing is left to lift: a clear refusal, and no second row.
    again = await post(api, admin, path, {"reason": LEGAL_ORDER})
    assert (again.status_code, again.json()["error"]) == (409, "NotExcluded")
    assert len(await audit_rows(api.runtime, player.id)) == 1


async def test_a_permanent_self_exclusion_is_lifted_only_by_an_admin(api: Served) -> None:
    admin, support = await staff(api, "admin"), await staff(api, "support")
    (player,) = await players(api.client, 1)
    excluded = await api.client.put(
        "/responsible-gaming", headers=player.headers, json={"self_exclusion": "permanent"}
    )
    assert excluded.status_code == 200, excluded.text
    path = f"/admin/players/{player.id}/lift-exclusion"
    assert (await post(api, support, path, {"reason": LEGAL_ORDER})).status_code == 403
    lifted = await post(api, admin, path, {"reason": LEGAL_ORDER})
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["excluded_permanently"] is False
    (row,) = await audit_rows(api.runtime, player.id)
    assert decoded(row.before)["excluded_permanently"] is True


async def test_admins_lifting_at_the_same_moment_lift_once(api: Served) -> None:
    admins = [await staff(api, "admin") for _ in range(4)]
    (player,) = await players(api.client, 1)
    await api.client.put("/responsible-gaming", headers=player.headers, json={"time_out_hours": 24})
    path = f"/admin/players/{player.id}/lift-exclusion"
    answers = await asyncio.gather(
        *(post(api, admin, path, {"reason": LEGAL_ORDER}) for admin in admins)
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409], [a.text for a in answers]
    assert len(await audit_rows(api.runtime, player.id)) == 1


async def test_an_admin_verifies_a_phone_for_a_player(api: Served) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    typed, number = unique_phone()
    path = f"/admin/players/{player.id}/phones/verify"
    done = await post(api, admin, path, {"phone": typed, "reason": "Called it back"})
    assert done.status_code == 200, done.text
    assert done.json() == {"phone": number, "user_id": player.id, "message": "Verified"}
    # Again: nothing changes, and the row says so.
    await post(api, admin, path, {"phone": number, "reason": "Checked twice"})
    rows = await audit_rows(api.runtime, player.id)
    assert [(r.action, decoded(r.before), decoded(r.after)) for r in rows] == [
        (
            "verify_phone",
            {"phone": number, "proven_by": None},
            {"phone": number, "proven_by": "operator"},
        ),
        (
            "verify_phone",
            {"phone": number, "proven_by": "operator"},
            {"phone": number, "proven_by": "operator"},
        ),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"phone": "not a phone", "reason": "r"},
        {"phone": "0708374149"},
        {"phone": "0708374149", "reason": ""},
        {"reason": "r"},
        {"phone": 708374149, "reason": "r"},
    ],
)
async def test_a_phone_to_verify_must_be_a_phone_with_a_reason(api: Served, body: Any) -> None:
    admin = await staff(api, "admin")
    (player,) = await players(api.client, 1)
    refused = await post(api, admin, f"/admin/players/{player.id}/phones/verify", body)
    assert refused.status_code in (400, 422), refused.text
    assert await audit_rows(api.runtime, player.id) == []


async def test_an_admin_lets_a_second_account_register_with_a_phone(api: Served) -> None:
    admin = await staff(api, "admin")
    typed, number = unique_phone()
    await register(api.client, phone=typed)
    taken = await api.client.post(
        "/register",
        json={"username": unique_name(), "password": PASSWORD, "dob": ADULT_DOB, "phone": typed},
    )
    assert (taken.status_code, taken.json()["error"]) == (409, "PhoneInUse")

    body = {"phone": typed, "reason": "One phone for the family, ticket 7"}
    for bad in ({"phone": "12", "reason": "r"}, {"phone": typed}):
        assert (await post(api, admin, "/admin/phones/shared", bad)).status_code in (400, 422)
    allowed = await post(api, admin, "/admin/phones/shared", body)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"phone": number, "user_id": None, "message": "May be shared"}
    await register(api.client, phone=typed)
    (row,) = await audit_rows(api.runtime, number, kind="phone")
    assert (row.action, row.reason) == ("allow_shared_phone", body["reason"])
    assert decoded(row.before) == {"shared": False, "allowed_by": None}
    assert decoded(row.after) == {"shared": True, "allowed_by": f"user:{admin.username}"}


@pytest.mark.parametrize("route", sorted(PLAYER_ROUTES))
async def test_each_protection_route_is_404_for_an_unknown_player(api: Served, route: str) -> None:
    admin = await staff(api, "admin")
    path = f"/admin/players/{UNKNOWN_PLAYER}/{route}"
    missing = await post(api, admin, path, PLAYER_ROUTES[route])
    assert (missing.status_code, missing.json()["error"]) == (404, "PlayerNotFound")
    assert await audit_rows(api.runtime, UNKNOWN_PLAYER) == []


@pytest.mark.parametrize("role", ["support", "finance", None])
async def test_support_finance_and_players_get_403_on_each_protection_route(
    api: Served, role: str | None
) -> None:
    (caller,) = await players(api.client, 1)
    if role is not None:
        await grant_role(api.runtime, caller.username, role, "tests")
    (player,) = await players(api.client, 1)
    excluded = await api.client.put(
        "/responsible-gaming", headers=player.headers, json={"time_out_hours": 24}
    )
    assert excluded.status_code == 200
    calls = [(f"/admin/players/{player.id}/{r}", body) for r, body in PLAYER_ROUTES.items()]
    calls.append(("/admin/phones/shared", {"phone": "0708374149", "reason": "r"}))
    for path, body in calls:
        refused = await post(api, caller, path, body)
        assert (refused.status_code, refused.json()["error"]) == (403, "StaffOnly"), path
    assert await audit_rows(api.runtime, player.id) == []
