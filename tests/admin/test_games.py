"""The games under /admin: operators open and close games, change their stakes, Spin and
Win's reward table (a new version each time) and roulette's rake and side-bet edge; each
change is audited in its own transaction and in force for the next bet, on every worker."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

from sqlalchemy import select

from gamehub.games import fairness
from gamehub.models import Bet, RewardTable
from tests.admin.support import audit_rows, decoded, staff
from tests.games.roulette.test_game import STAKE, play_to_the_end, room_state, seat_players
from tests.games.support import assert_ledger_ok, balance, player
from tests.support.apps import Served, served

PLAY = "/games/spin-and-win/play"
# RTP 90%: inside the default bounds (80% to 99%).
NINETY = [{"multiplier": "0", "weight": 1}, {"multiplier": "1.8", "weight": 1}]
# RTP 50%: outside them.
HALF = [{"multiplier": "0", "weight": 1}, {"multiplier": "1", "weight": 1}]


async def game_audit(api: Served, slug: str) -> list[Any]:
    return await audit_rows(api.runtime, slug, kind="game")  # type: ignore[arg-type]


async def patch(api: Served, who: Any, slug: str, body: dict[str, Any]) -> Any:
    return await api.client.patch(f"/admin/games/{slug}", headers=who.headers, json=body)


async def new_table(api: Served, who: Any, table: list[dict[str, Any]]) -> Any:
    return await api.client.post(
        "/admin/games/spin-and-win/reward-tables", headers=who.headers, json={"table": table}
    )


async def test_operators_read_the_games_in_force(api: Served) -> None:
    for role in ("admin", "support", "finance"):
        operator = await staff(api, role)
        response = await api.client.get("/admin/games", headers=operator.headers)
        assert response.status_code == 200, response.text
        games = {g["slug"]: g for g in response.json()}
        assert games["spin-and-win"]["reward_table_version"] == 1
        assert games["spin-and-win"]["rake_bps"] is None
        assert games["russian-roulette"]["rake_bps"] == 500
        assert games["russian-roulette"]["side_bet_edge_bps"] == 500
        assert games["russian-roulette"]["rtp_exact"] == "19/20"


async def test_only_an_admin_changes_a_game(api: Served) -> None:
    for role in ("support", "finance"):
        operator = await staff(api, role)
        refused = [
            await patch(api, operator, "spin-and-win", {"is_active": False}),
            await new_table(api, operator, NINETY),
        ]
        for response in refused:
            assert response.status_code == 403, response.text
            assert response.json()["error"] == "StaffOnly"
    assert await game_audit(api, "spin-and-win") == []
    game = (await api.client.get("/games/spin-and-win")).json()
    assert game["is_active"] is True
    assert game["reward_table_version"] == 1


async def test_a_change_is_audited_with_before_and_after(api: Served) -> None:
    admin = await staff(api, "admin")
    response = await patch(
        api,
        admin,
        "spin-and-win",
        {"min_bet": 20, "max_bet": 500, "is_active": False, "reason": "Maintenance"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["min_bet"], body["max_bet"], body["is_active"]) == (20, 500, False)
    (row,) = await game_audit(api, "spin-and-win")
    assert row.action == "change_game"
    assert row.actor == f"user:{admin.username}"
    assert row.reason == "Maintenance"
    assert decoded(row.before) == {
        "is_active": True,
        "min_bet": 1000,
        "max_bet": 1_000_000,
        "reward_table_version": 1,
    }
    assert decoded(row.after) == {
        "is_active": False,
        "min_bet": 2000,
        "max_bet": 50_000,
        "reward_table_version": 1,
    }


async def test_bad_settings_are_refused_and_leave_no_trail(api: Served) -> None:
    admin = await staff(api, "admin")
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("spin-and-win", {"min_bet": 600, "max_bet": 500}, "min_bet"),
        ("spin-and-win", {"max_bet": 5}, "max_bet"),
        ("spin-and-win", {"min_bet": 0}, "min_bet"),
        ("spin-and-win", {"min_bet": -5}, "min_bet"),
        ("spin-and-win", {"min_bet": "ten"}, "min_bet"),
        ("spin-and-win", {"rake_bps": 100}, "rake_bps"),
        ("russian-roulette", {"rake_bps": 5001}, "rake_bps"),
        ("russian-roulette", {"side_bet_edge_bps": -1}, "side_bet_edge_bps"),
        ("russian-roulette", {"is_active": "no"}, "is_active"),
        ("russian-roulette", {"colour": "red"}, "colour"),
        ("russian-roulette", {}, "body"),
    ]
    for slug, body, field in cases:
        response = await patch(api, admin, slug, body)
        assert response.status_code in (400, 422), (body, response.text)
        assert field in response.json()["detail"], (body, response.text)
    unknown = await patch(api, admin, "poker", {"is_active": False})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "GameNotFound"
    assert await game_audit(api, "spin-and-win") == []
    assert await game_audit(api, "russian-roulette") == []


async def test_a_new_reward_table_is_a_new_version_in_force(api: Served) -> None:
    admin = await staff(api, "admin")
    created = await new_table(api, admin, NINETY)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["version"] == 2
    assert body["in_force"] is True
    assert body["rtp_exact"] == "9/10"
    assert body["created_by"] == f"user:{admin.username}"
    listed = await api.client.get("/admin/games/spin-and-win/reward-tables", headers=admin.headers)
    assert [(t["version"], t["in_force"]) for t in listed.json()] == [(2, True), (1, False)]
    game = (await api.client.get("/games/spin-and-win")).json()
    assert (game["reward_table_version"], game["rtp_exact"]) == (2, "9/10")
    (row,) = await game_audit(api, "spin-and-win")
    assert row.action == "add_reward_table"
    assert decoded(row.before) == {"reward_table_version": 1}
    assert decoded(row.after) == {
        "reward_table_version": 2,
        "table": [{"multiplier": "0.0", "weight": 1}, {"multiplier": "1.8", "weight": 1}],
    }


async def test_a_table_outside_the_return_bounds_is_refused_naming_its_return(
    api: Served,
) -> None:
    admin = await staff(api, "admin")
    # 100% and more is refused too, whatever the bounds.
    generous = [{"multiplier": "0", "weight": 1}, {"multiplier": "2.2", "weight": 1}]
    for table, rtp in ((HALF, 0.5), (generous, 1.1)):
        response = await new_table(api, admin, table)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "RewardTableRefused"
        assert (body["rtp"], body["minimum"], body["maximum"]) == (rtp, 0.8, 0.99)
        assert f"{rtp:.2%}" in body["detail"]
    for bad in ([], [{"multiplier": "1.5", "weight": 0}] * 2, [{"multiplier": "x", "weight": 1}]):
        response = await new_table(api, admin, bad)
        assert response.status_code in (400, 422), response.text
    roulette = await api.client.post(
        "/admin/games/russian-roulette/reward-tables",
        headers=admin.headers,
        json={"table": NINETY},
    )
    assert roulette.status_code == 404
    async with api.runtime.db.unit_of_work() as session:
        versions = (await session.execute(select(RewardTable.version))).scalars().all()
    assert versions == [1]
    assert await game_audit(api, "spin-and-win") == []


async def test_the_bounds_are_settings(database_url: str, redis_url: str | None) -> None:
    async with served(database_url, redis_url, spin_rtp_min_bps=4000) as api:
        admin = await staff(api, "admin")
        assert (await new_table(api, admin, HALF)).status_code == 201


async def test_a_bet_stores_its_version_and_verifies_with_it_after_a_change(
    api: Served,
) -> None:
    admin = await staff(api, "admin")
    me = await player(api.client, api.runtime)
    old = await api.client.post(PLAY, headers=me.headers, json={"bet_amount": 10})
    assert old.status_code == 200, old.text
    assert old.json()["reward_table_version"] == 1
    assert (await new_table(api, admin, NINETY)).status_code == 201
    new = await api.client.post(PLAY, headers=me.headers, json={"bet_amount": 10})
    assert new.json()["reward_table_version"] == 2
    assert new.json()["result"] in ("0.0x", "1.8x")
    async with api.runtime.db.unit_of_work() as session:
        stored = {
            b.id: b.reward_table_version
            for b in (await session.execute(select(Bet).where(Bet.user_id == me.id))).scalars()
        }
    assert stored == {old.json()["bet_id"]: 1, new.json()["bet_id"]: 2}

    assert (await api.client.post("/fairness/rotate", headers=me.headers)).status_code == 200
    for played, version in ((old, 1), (new, 2)):
        verified = await api.client.get(
            f"/fairness/verify/{played.json()['bet_id']}", headers=me.headers
        )
        assert verified.status_code == 200, verified.text
        body = verified.json()
        assert body["matches"] is True
        assert body["reward_table_version"] == version
        published = await api.client.get(f"/games/spin-and-win/reward-tables/{version}")
        assert body["reward_table"] == published.json()["table"]
    history = (await api.client.get("/history", headers=me.headers)).json()
    assert sorted(item["reward_table_version"] for item in history) == [1, 2]


async def test_a_change_is_in_force_at_once_on_another_worker(
    database_url: str, redis_url: str | None
) -> None:
    """Two apps on one database, as two workers are: what one's admin changes, the
    other's next spin obeys, without a restart (its cached table versions included)."""
    async with served(database_url, redis_url) as one, served(database_url, redis_url) as other:
        admin = await staff(one, "admin")
        me = await player(other.client, other.runtime)
        before = await other.client.post(PLAY, headers=me.headers, json={"bet_amount": 10})
        assert before.json()["reward_table_version"] == 1

        assert (await new_table(one, admin, NINETY)).status_code == 201
        spun = await other.client.post(PLAY, headers=me.headers, json={"bet_amount": 10})
        assert spun.json()["reward_table_version"] == 2
        assert spun.json()["result"] in ("0.0x", "1.8x")

        assert (await patch(one, admin, "spin-and-win", {"min_bet": 20})).status_code == 200
        low = await other.client.post(PLAY, headers=me.headers, json={"bet_amount": 10})
        assert low.status_code == 422, low.text
        assert low.json()["error"] == "StakeOutOfRange"

        assert (await patch(one, admin, "spin-and-win", {"is_active": False})).status_code == 200
        closed = await other.client.post(PLAY, headers=me.headers, json={"bet_amount": 30})
        assert closed.status_code == 409, closed.text
        assert closed.json()["error"] == "GameClosed"
        listed = (await other.client.get("/games/spin-and-win")).json()
        assert (listed["is_active"], listed["min_bet"]) == (False, 20)


async def test_roulette_rooms_opened_after_a_rake_change_take_it(api: Served) -> None:
    admin = await staff(api, "admin")
    before, before_id = await seat_players(api.client, api.runtime, 2)
    changed = await patch(api, admin, "russian-roulette", {"rake_bps": 1000})
    assert changed.status_code == 200, changed.text
    assert changed.json()["rtp_exact"] == "9/10"
    after, after_id = await seat_players(api.client, api.runtime, 2)
    pot = STAKE * 2 * 100
    # The room in play when it changed keeps the 5% its players staked at.
    for players, room_id, kept in ((before, before_id, pot // 20), (after, after_id, pot // 10)):
        await play_to_the_end(api.client, players, room_id)
        final = await room_state(api.client, room_id)
        assert final["rake_bps"] == kept * 10_000 // pot
        survivor = next(p for p in players if p.id != final["eliminated_player"])
        assert await balance(api.client, survivor) == 1000 - STAKE + (pot - kept) / 100
    (row,) = await game_audit(api, "russian-roulette")
    assert (decoded(row.before)["rake_bps"], decoded(row.after)["rake_bps"]) == (500, 1000)
    await assert_ledger_ok(api.runtime)


async def test_the_report_weighs_each_rooms_own_rake_by_its_stakes(api: Served) -> None:
    admin = await staff(api, "admin", "finance")
    before, before_id = await seat_players(api.client, api.runtime, 2)
    assert (await patch(api, admin, "russian-roulette", {"rake_bps": 1000})).status_code == 200
    after, after_id = await seat_players(api.client, api.runtime, 2)
    for players, room_id in ((before, before_id), (after, after_id)):
        await play_to_the_end(api.client, players, room_id)
    report = (await api.client.get("/admin/reports", headers=admin.headers)).json()
    (roulette,) = [g for g in report["games"] if g["game"] == "russian-roulette"]
    # Equal stakes in a room at 5% and one at 10%, not the 10% in force now.
    assert roulette["theoretical_rtp"] == 0.925
    await assert_ledger_ok(api.runtime)


async def test_side_bets_take_the_edge_in_force(api: Served) -> None:
    admin = await staff(api, "admin")
    (seated,), room_id = await seat_players(api.client, api.runtime, 1, max_players=2)
    bettor = await player(api.client, api.runtime)

    async def bet() -> str:
        response = await api.client.post(
            "/games/place-bet",
            headers=bettor.headers,
            json={
                "roulette_id": room_id,
                "player_id": seated.id,
                "bet_type": "survival",
                "bet_amount": 10,
            },
        )
        assert response.status_code == 200, response.text
        odds: str = response.json()["odds_exact"]
        return odds

    before = await bet()
    assert Fraction(before) == fairness.survival_multiplier(2, 0, Fraction(5, 100))
    assert (
        await patch(api, admin, "russian-roulette", {"side_bet_edge_bps": 1000})
    ).status_code == 200
    assert Fraction(await bet()) == fairness.survival_multiplier(2, 0, Fraction(1, 10))


async def test_the_report_weighs_each_table_by_what_was_staked_with_it(api: Served) -> None:
    admin = await staff(api, "admin", "finance")
    me = await player(api.client, api.runtime)
    assert (await api.client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).is_success
    assert (await new_table(api, admin, NINETY)).status_code == 201
    assert (await api.client.post(PLAY, headers=me.headers, json={"bet_amount": 30})).is_success
    report = (await api.client.get("/admin/reports", headers=admin.headers)).json()
    (spins,) = [g for g in report["games"] if g["game"] == "spin-and-win"]
    # (10 x 96% + 30 x 90%) / 40
    assert spins["theoretical_rtp"] == 0.915


async def test_two_new_tables_at_once_take_the_next_two_versions(api: Served) -> None:
    admin = await staff(api, "admin")
    other = [{"multiplier": "0", "weight": 1}, {"multiplier": "1.7", "weight": 1}]
    first, second = await asyncio.gather(
        new_table(api, admin, NINETY), new_table(api, admin, other)
    )
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    versions = sorted([first.json()["version"], second.json()["version"]])
    assert versions == [2, 3]
    # The one written last is in force: its version is the higher.
    game = (await api.client.get("/games/spin-and-win")).json()
    assert game["reward_table_version"] == 3
    rows = await game_audit(api, "spin-and-win")
    assert sorted(decoded(r.after)["reward_table_version"] for r in rows) == [2, 3]
    assert sorted(decoded(r.before)["reward_table_version"] for r in rows) == [1, 2]
