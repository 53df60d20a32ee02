"""Taxes on play (docs/operators.md, "Taxes"): the excise withheld from every stake and the
tax withheld from winnings, posted to their liability accounts with the stake and the
payout they come from, on Spin and Win and in Russian Roulette (stakes, pot, side bets,
refunds)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from gamehub.core.events import user_topic
from gamehub.core.runtime import Runtime
from gamehub.models import Account, Bet, LedgerEntry, LedgerTransaction
from tests.games.roulette.test_game import play_to_the_end, room_state
from tests.games.roulette.test_outcome import movements
from tests.games.support import (
    PLAY,
    Player,
    assert_ledger_ok,
    balance,
    opening,
    player,
    put_reward_table,
)
from tests.support.api import Client
from tests.support.round_trips import round_trips

# A third of the spins win 2.5x: both outcomes come up within a few spins.
TABLE = '[{"multiplier": "2.5", "weight": 1}, {"multiplier": "0", "weight": 2}]'


# A taxed spin that pays something back, on PostgreSQL, BEGIN and COMMIT included
# (untaxed: 4).
TAXED_SPIN_ROUND_TRIPS = 17


def runtime_of(client: Client) -> Runtime:
    found: Runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
    return found


@pytest.fixture
async def taxed(app_factory: Any) -> AsyncIterator[Client]:
    """12.5% excise on stakes, 20% on winnings."""
    async with app_factory(tax_stake_bps=1250, tax_winnings_bps=2000) as client:
        await put_reward_table(runtime_of(client), TABLE)
        yield client


async def tax_entries(runtime: Runtime, kind: str) -> list[tuple[int, str]]:
    """Each posting to the tax account of ``kind``: its amount and its transaction's
    reference, oldest first."""
    async with runtime.db.unit_of_work() as session:
        rows = await session.execute(
            select(LedgerEntry.amount, LedgerTransaction.reference)
            .join(Account, Account.id == LedgerEntry.account_id)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(Account.kind == kind)
            .order_by(LedgerEntry.id)
        )
        return [(int(amount), str(reference)) for amount, reference in rows]


async def spins_of_each_outcome(client: Client, me: Player, bet_amount: object) -> list[Any]:
    """Spin until the wheel has both won and lost; every spin's body."""
    bodies = []
    while {b["multiplier"] for b in bodies} != {2.5, 0}:
        assert len(bodies) < 60, "the wheel never showed both outcomes"
        response = await client.post(PLAY, headers=me.headers, json={"bet_amount": bet_amount})
        assert response.status_code == 200, response.text
        bodies.append(response.json())
    return bodies


async def test_a_spin_withholds_the_excise_from_the_stake_and_the_tax_from_winnings(
    taxed: Client,
) -> None:
    runtime = runtime_of(taxed)
    me = await player(taxed, runtime, 1_000_000)
    bodies = await spins_of_each_outcome(taxed, me, 100)
    expected_balance = 10_000.0
    for body in bodies:
        # KES 100 staked: 12.50 excise, 87.50 in play; 2.5x pays 218.75, of which the
        # 131.25 won beyond the stake in play is taxed 26.25.
        assert body["stake_tax"] == 12.5
        won = body["multiplier"] == 2.5
        assert body["winnings_tax"] == (26.25 if won else 0)
        assert body["win_amount"] == (192.5 if won else 0)
        expected_balance += -100 + body["win_amount"]
        assert body["new_balance"] == pytest.approx(expected_balance)
    assert await balance(taxed, me) == pytest.approx(expected_balance)

    async with runtime.db.unit_of_work() as session:
        bets = (await session.scalars(select(Bet).where(Bet.user_id == me.id))).all()
    assert {(b.amount, b.stake_tax) for b in bets} == {(10_000, 1250)}
    assert {(b.win_amount, b.winnings_tax) for b in bets} == {(19_250, 2625), (0, 0)}
    ids = [b["bet_id"] for b in bodies]
    assert await tax_entries(runtime, "tax_stake") == [(1250, f"spin-stake:{i}") for i in ids]
    wins = [b["bet_id"] for b in bodies if b["multiplier"] == 2.5]
    assert await tax_entries(runtime, "tax_winnings") == [(2625, f"spin-win:{i}") for i in wins]
    await assert_ledger_ok(runtime)


async def test_the_wallet_and_the_history_show_each_spins_taxes(taxed: Client) -> None:
    runtime = runtime_of(taxed)
    me = await player(taxed, runtime, 1_000_000)
    bodies = await spins_of_each_outcome(taxed, me, 100)
    lines = (await taxed.get("/wallet/transactions?limit=100", headers=me.headers)).json()
    by_reference = {line["reference"]: line for line in lines["items"]}
    for body in bodies:
        stake = by_reference[f"spin-stake:{body['bet_id']}"]
        assert (stake["amount"], stake["tax"]) == (-100, 12.5)
        if body["multiplier"] == 2.5:
            win = by_reference[f"spin-win:{body['bet_id']}"]
            assert (win["amount"], win["tax"]) == (192.5, 26.25)
    # The operator's adjustment that funded the wallet is untaxed.
    assert lines["items"][-1]["category"] == "adjustment"
    assert lines["items"][-1]["tax"] == 0
    history = {h["id"]: h for h in (await taxed.get("/history", headers=me.headers)).json()}
    for body in bodies:
        item = history[body["bet_id"]]
        assert (item["bet_amount"], item["stake_tax"]) == (100, 12.5)
        assert (item["win_amount"], item["winnings_tax"]) == (
            body["win_amount"],
            body["winnings_tax"],
        )


async def test_each_movements_event_tells_its_tax_as_the_wallet_lists_it(taxed: Client) -> None:
    runtime = runtime_of(taxed)
    me = await player(taxed, runtime, 1_000_000)
    subscription = await runtime.events.open([user_topic(me.id)])
    try:
        bodies = await spins_of_each_outcome(taxed, me, 100)
        heard = await movements(
            subscription, len(bodies) + sum(b["win_amount"] > 0 for b in bodies)
        )
    finally:
        runtime.events.unsubscribe(subscription)
    lines = (await taxed.get("/wallet/transactions?limit=100", headers=me.headers)).json()["items"]
    listed = {line["id"]: (line["reference"], line["amount"], line["tax"]) for line in lines}
    assert {e["id"]: (e["reference"], e["amount"], e["tax"]) for e in heard} == {
        entry_id: line for entry_id, line in listed.items() if line[0].startswith("spin-")
    }
    assert {e["tax"] for e in heard} == {12.5, 26.25}


async def test_each_bet_update_tells_the_bets_taxes(taxed: Client) -> None:
    runtime = runtime_of(taxed)
    me = await player(taxed, runtime, 1_000_000)
    subscription = await runtime.events.open([user_topic(me.id)])
    try:
        bodies = await spins_of_each_outcome(taxed, me, 100)
        heard: list[dict[str, Any]] = []
        with anyio.fail_after(5):
            while len(heard) < len(bodies):
                event = await subscription.get()
                if event is not None and event.name == "bet_update":
                    heard.append(dict(event.data))
    finally:
        runtime.events.unsubscribe(subscription)
    # Every field it had, and the taxes as the spin's response tells them.
    assert [
        (e["bet_id"], e["amount"], e["win_amount"], e["stake_tax"], e["winnings_tax"])
        for e in heard
    ] == [(b["bet_id"], 100, b["win_amount"], 12.5, b["winnings_tax"]) for b in bodies]
    assert {e["winnings_tax"] for e in heard} == {0, 26.25}


async def test_taxes_round_down_to_the_cent(taxed: Client) -> None:
    runtime = runtime_of(taxed)
    me = await player(taxed, runtime, 1_000_000)
    bodies = await spins_of_each_outcome(taxed, me, "10.01")
    for body in bodies:
        # 12.5% of 10.01 is 1.25125: 1.25. In play 8.76; 2.5x pays 21.90, and 20% of
        # the 13.14 won is 2.628: 2.62.
        assert body["stake_tax"] == 1.25
        won = body["multiplier"] == 2.5
        assert (body["winnings_tax"], body["win_amount"]) == ((2.62, 19.28) if won else (0, 0))
    await assert_ledger_ok(runtime)


async def test_a_tax_under_a_cent_posts_nothing(app_factory: Any) -> None:
    # 0.01%: a tenth of a cent on the smallest stake, 0.15 of a cent on its win.
    async with app_factory(tax_stake_bps=1, tax_winnings_bps=1) as client:
        runtime = runtime_of(client)
        await put_reward_table(runtime, TABLE)
        me = await player(client, runtime, 1_000_000)
        bodies = await spins_of_each_outcome(client, me, 10)
        for body in bodies:
            assert (body["stake_tax"], body["winnings_tax"]) == (0, 0)
            assert body["win_amount"] == (25 if body["multiplier"] == 2.5 else 0)
        assert await tax_entries(runtime, "tax_stake") == []
        assert await tax_entries(runtime, "tax_winnings") == []
        await assert_ledger_ok(runtime)


async def test_untaxed_play_posts_to_no_tax_account(client: Client, runtime: Runtime) -> None:
    me = await player(client, runtime)
    body = (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).json()
    assert (body["stake_tax"], body["winnings_tax"]) == (0, 0)
    async with runtime.db.unit_of_work() as session:
        kinds = set(await session.scalars(select(Account.kind)))
    assert not {k for k in kinds if k.startswith("tax_")}


async def test_a_stake_the_wallet_cannot_cover_moves_neither_stake_nor_tax(taxed: Client) -> None:
    runtime = runtime_of(taxed)
    # The excise comes out of the stake, not on top: the whole balance can be staked.
    me = await player(taxed, runtime, 1_000)
    whole = await taxed.post(PLAY, headers=me.headers, json={"bet_amount": 10})
    assert whole.status_code == 200, whole.text
    assert whole.json()["new_balance"] == whole.json()["win_amount"]
    broke = await player(taxed, runtime, 999)
    refused = await taxed.post(PLAY, headers=broke.headers, json={"bet_amount": 10})
    assert refused.status_code == 409
    assert refused.json()["error"] == "InsufficientFunds"
    assert await balance(taxed, broke) == 9.99
    assert await tax_entries(runtime, "tax_stake") == [
        (125, f"spin-stake:{whole.json()['bet_id']}")
    ]
    async with runtime.db.unit_of_work() as session:
        assert (await session.scalars(select(Bet).where(Bet.user_id == broke.id))).all() == []
    await assert_ledger_ok(runtime)


# Russian Roulette: 10% excise, 20% on winnings, the default 5% rake.


@pytest.fixture
async def taxed_rooms(app_factory: Any) -> AsyncIterator[Client]:
    async with app_factory(tax_stake_bps=1000, tax_winnings_bps=2000) as client:
        yield client


async def join(client: Client, who: Player, max_players: int = 2) -> dict[str, Any]:
    response = await client.post(
        "/games/join", headers=who.headers, json={"stake": 100, "max_players": max_players}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_taxed_room_pays_the_pot_of_stakes_in_play_less_the_tax_on_winnings(
    taxed_rooms: Client,
) -> None:
    client = taxed_rooms
    runtime = runtime_of(client)
    players = [await player(client, runtime) for _ in range(2)]
    joined = [await join(client, who) for who in players]
    assert [j["stake_tax"] for j in joined] == [10, 10]
    room_id = joined[0]["roulette_id"]
    assert (await room_state(client, room_id))["pot"] == 180
    spectator = await player(client, runtime)
    placed = await client.post(
        "/games/place-bet",
        headers=spectator.headers,
        json={"roulette_id": room_id, "player_id": players[0].id, "bet_type": "survival",
              "bet_amount": 50},
    )  # fmt: skip
    assert placed.status_code == 200, placed.text
    # 5.00 excise, 45.00 in play at 19/10: 85.50, of which 20% of the 40.50 won is 8.10.
    assert placed.json()["stake_tax"] == 5
    assert placed.json()["potential_win"] == 77.4
    assert placed.json()["new_balance"] == 950

    await play_to_the_end(client, players, room_id)
    state = await room_state(client, room_id)
    survivor = next(p for p in players if p.id != state["eliminated_player"])
    eliminated = next(p for p in players if p.id == state["eliminated_player"])
    # A pot of 180 less the 5% rake: 171 to the survivor, whose 81 won beyond the 90 in
    # play is taxed 16.20.
    assert await balance(client, survivor) == pytest.approx(1000 - 100 + 154.8)
    assert await balance(client, eliminated) == 900
    target_survived = survivor.id == players[0].id
    assert await balance(client, spectator) == pytest.approx(950 + (77.4 if target_survived else 0))
    stakes = await tax_entries(runtime, "tax_stake")
    assert sorted(amount for amount, _ in stakes) == [500, 1000, 1000]
    winnings = await tax_entries(runtime, "tax_winnings")
    assert winnings[0] == (1620, f"roulette-pot:{room_id}")
    assert [amount for amount, _ in winnings[1:]] == ([810] if target_survived else [])
    async with runtime.db.unit_of_work() as session:
        bets = (await session.scalars(select(Bet).where(Bet.room_id == room_id))).all()
    won = {b.user_id: (b.win_amount, b.winnings_tax) for b in bets if b.kind == "roulette_stake"}
    assert won == {survivor.id: (15_480, 1620), eliminated.id: (0, 0)}
    await assert_ledger_ok(runtime)


async def test_a_refunded_stake_gives_its_excise_back(taxed_rooms: Client) -> None:
    client = taxed_rooms
    runtime = runtime_of(client)
    first, second = [await player(client, runtime) for _ in range(2)]
    room_id = (await join(client, first, max_players=3))["roulette_id"]
    await join(client, second, max_players=3)
    bettor = await player(client, runtime)
    placed = await client.post(
        "/games/place-bet",
        headers=bettor.headers,
        json={"roulette_id": room_id, "player_id": first.id, "bet_type": "elimination",
              "bet_amount": 20},
    )  # fmt: skip
    assert placed.status_code == 200, placed.text
    left = await client.post("/games/leave", headers=first.headers, json={"roulette_id": room_id})
    assert left.status_code == 200, left.text
    assert left.json()["refunded"] == 100
    # The whole stake and the whole side bet on the leaver come back, excise and all.
    assert await balance(client, first) == 1000
    assert await balance(client, bettor) == 1000
    assert await balance(client, second) == 900
    stakes = await tax_entries(runtime, "tax_stake")
    assert sum(amount for amount, _ in stakes) == 1000
    assert sorted(amount for amount, _ in stakes) == [-1000, -200, 200, 1000, 1000]
    lines = (await client.get("/wallet/transactions", headers=first.headers)).json()["items"]
    assert [(line["category"], line["tax"]) for line in lines[:2]] == [
        ("refund", -10),
        ("bet", 10),
    ]
    await assert_ledger_ok(runtime)


async def test_a_taxed_spin_on_postgresql_takes_the_statement_by_statement_path(
    app_factory: Any, backend_name: str
) -> None:
    if backend_name != "postgresql":
        pytest.skip("the two-statement spin is PostgreSQL's; other backends always take this path")
    # Every segment pays something back: every spin posts a stake and a payout.
    paying = '[{"multiplier": "0.5", "weight": 1}, {"multiplier": "0.8", "weight": 1}]'
    async with app_factory(game_jobs_interval_seconds=0, tax_stake_bps=1250) as client:
        runtime = runtime_of(client)
        await put_reward_table(runtime, paying)
        me = await player(client, runtime)
        # The first spin creates the seed and opens the tax account, the second finds it
        # committed (then the process remembers it): the ones after are the steady state.
        for _ in range(2):
            assert (await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})).is_success
        for _ in range(3):
            with round_trips(runtime) as sent:
                response = await client.post(PLAY, headers=me.headers, json={"bet_amount": 10})
            assert response.json()["stake_tax"] == 1.25
            # Not the two statements of the untaxed spin (test_spin_round_trips.py): the
            # cost of a tax, documented in docs/operators.md.
            assert "WITH stakes AS" not in opening(sent)
            assert len(sent) == TAXED_SPIN_ROUND_TRIPS, opening(sent)
