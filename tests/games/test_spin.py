"""POST /games/spin-and-win/play: exact settlement, limits, idempotency, verification."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import anyio
import pytest
from sqlalchemy import select, update

from gamehub.core.events import user_topic
from gamehub.core.runtime import Runtime
from gamehub.games import fairness
from gamehub.models import Bet, Game, GameSession, LedgerTransaction, Stats
from tests.games.support import assert_ledger_ok, balance, player
from tests.support.api import Client

PLAY = "/games/spin-and-win/play"


async def test_a_spin_settles_stake_and_win_exactly(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime, 100_000)
    response = await client.post(PLAY, headers=me.headers, json={"bet_amount": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    multiplier = Fraction(body["result"].removesuffix("x"))
    assert body["multiplier"] == float(multiplier)
    assert Decimal(str(body["win_amount"])) == Decimal(100) * Decimal(str(body["multiplier"]))
    assert body["new_balance"] == 1000 - 100 + body["win_amount"]
    assert await balance(client, me) == body["new_balance"]
    assert body["fairness"]["nonce"] == 0
    assert len(body["fairness"]["server_seed_hash"]) == 64
    async with runtime.db.unit_of_work() as session:
        bet = await session.get(Bet, body["bet_id"])
        assert bet is not None
        assert bet.amount == 10_000
        assert bet.session_id is not None
        assert await session.get(GameSession, bet.session_id) is not None
        stats = (await session.execute(select(Stats).where(Stats.user_id == me.id))).scalar_one()
        assert stats.earnings == bet.win_amount - bet.amount
    await assert_ledger_ok(runtime)


async def test_nonces_rise_by_one_per_bet(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    nonces = []
    for _ in range(3):
        body = (await client.post(PLAY, headers=me.headers, json={"bet_amount": "10.50"})).json()
        nonces.append(body["fairness"]["nonce"])
    assert nonces == [0, 1, 2]


async def test_simultaneous_spins_never_share_a_nonce(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    nonces: list[int] = []

    async def spin() -> None:
        body = (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).json()
        nonces.append(body["fairness"]["nonce"])

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(spin)
    assert sorted(nonces) == list(range(8))
    await assert_ledger_ok(runtime)


@pytest.mark.parametrize(
    ("amount", "code", "detail"),
    [(0, "ValidationError", "bet_amount: must be greater than zero"),
     (-10, "ValidationError", "bet_amount: must be greater than zero"),
     ("1.234", "ValidationError", "bet_amount: must have at most 2 decimal places"),
     (5, "StakeOutOfRange", "bet_amount: Spin and Win takes 10.00 to 10000.00"),
     (20_000, "StakeOutOfRange", "bet_amount: Spin and Win takes 10.00 to 10000.00"),
     ("lots", "ValidationError", "bet_amount: must be a number")],
)  # fmt: skip
async def test_bad_stakes_are_422(
    client: Client, runtime: Runtime, amount: object, code: str, detail: str
) -> None:
    me = await player(client, runtime)
    response = await client.post(PLAY, headers=me.headers, json={"bet_amount": amount})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code
    assert response.json()["detail"] == detail
    if code == "StakeOutOfRange":
        assert (response.json()["minimum"], response.json()["maximum"]) == (10.0, 10000.0)
    assert await balance(client, me) == 1000


async def test_without_funds_the_spin_is_refused_and_no_nonce_is_spent(
    client: Client, runtime: Runtime
) -> None:
    me = await player(client, runtime, 500)
    response = await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})
    assert response.status_code == 409
    assert response.json()["error"] == "InsufficientFunds"
    fairness_state = (await client.get("/fairness", headers=me.headers)).json()
    assert fairness_state["nonce"] == 0


async def test_a_closed_game_takes_no_bets(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    async with runtime.db.unit_of_work() as session:
        await session.execute(
            update(Game).where(Game.slug == "spin-and-win").values(is_active=False)
        )
    response = await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})
    assert response.status_code == 409
    assert response.json()["error"] == "GameClosed"


async def test_idempotency_key_replays_a_spin(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    headers = {**me.headers, "Idempotency-Key": "spin-1"}
    first = await client.post(PLAY, headers=headers, json={"bet_amount": 10})
    again = await client.post(PLAY, headers=headers, json={"bet_amount": 10})
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await balance(client, me) == first.json()["new_balance"]
    different = await client.post(PLAY, headers=headers, json={"bet_amount": 11})
    assert different.status_code == 422
    assert different.json()["error"] == "IdempotencyKeyReused"


async def test_simultaneous_repeats_of_a_key_spin_once(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    headers = {**me.headers, "Idempotency-Key": "spin-twice"}
    answers = []

    async def spin() -> None:
        answers.append(await client.post(PLAY, headers=headers, json={"bet_amount": 10}))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(spin)
    # The repeats waited for the first to commit, then replayed it.
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == [
        "",
        "true",
        "true",
        "true",
    ]
    assert await balance(client, me) == answers[0].json()["new_balance"]
    async with runtime.db.unit_of_work() as session:
        bets = (await session.execute(select(Bet).where(Bet.user_id == me.id))).scalars().all()
    assert len(bets) == 1


async def test_a_revealed_seed_verifies_every_bet(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    await client.put("/fairness/client-seed", headers=me.headers, json={"client_seed": "lucky"})
    bets = [
        (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).json()
        for _ in range(4)
    ]
    secret = await client.get(f"/fairness/verify/{bets[0]['bet_id']}", headers=me.headers)
    assert secret.status_code == 409
    assert secret.json()["error"] == "SeedStillSecret"
    rotated = (await client.post("/fairness/rotate", headers=me.headers)).json()
    revealed = rotated["revealed"]
    assert fairness.seed_hash(revealed["server_seed"]) == bets[0]["fairness"]["server_seed_hash"]
    assert revealed["next_nonce"] == 4
    assert rotated["current"]["nonce"] == 0
    assert rotated["current"]["client_seed"] == "lucky"
    for bet in bets:
        check = (await client.get(f"/fairness/verify/{bet['bet_id']}", headers=me.headers)).json()
        assert check["matches"] is True
        assert check["recomputed"] == bet["result"]
        outcome = fairness.spin(
            revealed["server_seed"], "lucky", bet["fairness"]["nonce"], fairness.DEFAULT_SPIN_TABLE
        )
        assert outcome.label == bet["result"]


async def test_verify_is_for_your_own_bets(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    other = await player(client, runtime)
    bet = (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).json()
    response = await client.get(f"/fairness/verify/{bet['bet_id']}", headers=other.headers)
    assert response.status_code == 404
    assert response.json()["error"] == "BetNotFound"


@pytest.mark.parametrize("seed", ["", "has space", "a:b", "x" * 65, "ümlaut"])
async def test_bad_client_seeds_are_422(client: Client, runtime: Runtime, seed: str) -> None:
    me = await player(client, runtime, 0)
    response = await client.put(
        "/fairness/client-seed", headers=me.headers, json={"client_seed": seed}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "client_seed"


async def test_spins_need_authentication(client: Client) -> None:
    assert (await client.post(PLAY, json={"bet_amount": 10})).status_code == 401


async def test_the_verify_bet_command_agrees(
    client: Client, runtime: Runtime, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from gamehub.cli import main
    from gamehub.settings import get_settings

    me = await player(client, runtime)
    bet = (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).json()
    monkeypatch.setenv("GAMEHUB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        secret = await anyio.to_thread.run_sync(
            CliRunner().invoke, main, ["verify-bet", str(bet["bet_id"])]
        )
        assert secret.exit_code == 1
        assert "still secret" in secret.output
        await client.post("/fairness/rotate", headers=me.headers)
        checked = await anyio.to_thread.run_sync(
            CliRunner().invoke, main, ["verify-bet", str(bet["bet_id"])]
        )
        assert checked.exit_code == 0, checked.output
        assert f"recomputed        {bet['result']}" in checked.output
        missing = await anyio.to_thread.run_sync(CliRunner().invoke, main, ["verify-bet", "0"])
        assert missing.exit_code == 1
    finally:
        get_settings.cache_clear()


async def test_a_spin_s_postings_name_its_bet_and_reach_the_player(
    client: Client, runtime: Runtime
) -> None:
    me = await player(client, runtime)
    # The first spin takes the generic path (it creates the seed); on PostgreSQL the
    # later ones take the two statements: both are told the same way.
    for _ in range(3):
        subscription = await runtime.events.open([user_topic(me.id)])
        body = (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).json()
        names: list[str] = []
        movements = []
        with anyio.fail_after(5):
            while "bet_update" not in names:
                event = await subscription.get()
                names.append(event.name)
                if event.name == "transaction_update":
                    movements.append(event.data)
        runtime.events.unsubscribe(subscription)
        bet = body["bet_id"]
        stake = {"reference": f"spin-stake:{bet}", "category": "bet", "amount": -10.0}
        win = {"reference": f"spin-win:{bet}", "category": "win", "amount": body["win_amount"]}
        assert [{k: m[k] for k in ("reference", "category", "amount")} for m in movements] == (
            [stake, win] if body["win_amount"] else [stake]
        )
        assert movements[-1]["balance_after"] == body["new_balance"]
        async with runtime.db.unit_of_work() as session:
            references = set(
                (
                    await session.execute(
                        select(LedgerTransaction.reference).where(
                            LedgerTransaction.reference.like(f"spin-%:{bet}")
                        )
                    )
                ).scalars()
            )
        assert references == {m["reference"] for m in movements}
    await assert_ledger_ok(runtime)
