"""The report's taxes by rule (docs/operators.md, "Taxes"): per rule, the movements taxed
in the period and the total owed, as JSON and CSV; and the games' revenue net of them."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.admin.support import expired_deposit, staff
from tests.games.support import put_reward_table
from tests.stats.support import players
from tests.support.apps import Served, served
from tests.wallet.support import fund

# A third of the spins win 2.5x.
TABLE = '[{"multiplier": "2.5", "weight": 1}, {"multiplier": "0", "weight": 2}]'


@pytest.fixture
async def api(database_url: str, redis_url: str | None) -> AsyncIterator[Served]:
    """10% excise on stakes, 20% on winnings, 5% on deposits; withdrawals untaxed."""
    async with served(
        database_url,
        redis_url,
        tax_stake_bps=1000,
        tax_winnings_bps=2000,
        tax_deposit_bps=500,
    ) as running:
        await put_reward_table(running.runtime, TABLE)
        yield running


async def taxed_play(api: Served) -> tuple[int, int]:
    """Six spins of KES 10 and an operator's credit of a KES 50 deposit M-Pesa left
    open; returns (spins, of which won)."""
    finance = await staff(api, "finance")
    (player,) = await players(api.client, 1)
    await fund(api.runtime, player.username, 100_000)
    won = 0
    for _ in range(6):
        response = await api.client.post(
            "/games/spin-and-win/play", headers=player.headers, json={"bet_amount": 10}
        )
        assert response.status_code == 200, response.text
        won += response.json()["multiplier"] == 2.5
    deposit_id = await expired_deposit(api.runtime, player.id, 5_000)
    resolved = await api.client.post(
        f"/admin/payments/deposit/{deposit_id}/resolve",
        headers=finance.headers,
        json={"paid": True, "receipt": "QK12ABC34D", "reason": "on the statement"},
    )
    assert resolved.status_code == 200, resolved.text
    return 6, won


async def report(api: Served, **params: str) -> Any:
    finance = await staff(api, "finance")
    response = await api.client.get("/admin/reports", headers=finance.headers, params=params)
    assert response.status_code == 200, response.text
    return response


async def test_the_report_counts_and_totals_each_tax_rule(api: Served) -> None:
    spins, won = await taxed_play(api)
    body = (await report(api)).json()
    # Each stake: 1.00 excise; each win: 2.5 x 9.00 = 22.50, 20% of the 13.50 won beyond
    # the stake in play: 2.70; the deposit credited by the operator: 5% of 50.00.
    assert body["taxes"] == [
        {"rule": "stake", "count": spins, "total": spins * 1.0},
        {"rule": "deposit", "count": 1, "total": 2.5},
        {"rule": "withdrawal", "count": 0, "total": 0},
        {"rule": "winnings", "count": won, "total": pytest.approx(won * 2.7)},
    ]
    (spin,) = body["games"]
    assert spin["wagered"] == spins * 10
    # What players paid in excise and on winnings is owed, not the house's revenue.
    assert spin["gross_gaming_revenue"] == pytest.approx(
        spin["wagered"] - spin["paid_out"] - spins * 1.0 - won * 2.7
    )


async def test_a_period_without_taxed_movements_lists_every_rule_at_zero(api: Served) -> None:
    await taxed_play(api)
    body = (await report(api, since="2999-01-01")).json()
    assert body["taxes"] == [
        {"rule": rule, "count": 0, "total": 0}
        for rule in ("stake", "deposit", "withdrawal", "winnings")
    ]


async def test_the_csv_report_has_a_count_and_a_total_row_per_rule(api: Served) -> None:
    spins, won = await taxed_play(api)
    sheet = await report(api, format="csv")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    cells = {
        (r["section"], r["name"], r["metric"]): r["value"] for r in rows if r["section"] == "taxes"
    }
    assert set(cells) == {
        ("taxes", rule, metric)
        for rule in ("stake", "deposit", "withdrawal", "winnings")
        for metric in ("count", "total")
    }
    assert (cells[("taxes", "stake", "count")], float(cells[("taxes", "stake", "total")])) == (
        str(spins),
        spins * 1.0,
    )
    assert float(cells[("taxes", "deposit", "total")]) == 2.5
    assert int(cells[("taxes", "winnings", "count")]) == won


async def test_the_admin_payment_views_show_each_payments_tax(api: Served) -> None:
    """As the player's own views do: the resolve's answer, the player's view and records."""
    finance = await staff(api, "finance")
    (player,) = await players(api.client, 1)
    deposit_id = await expired_deposit(api.runtime, player.id, 5_000)
    resolved = await api.client.post(
        f"/admin/payments/deposit/{deposit_id}/resolve",
        headers=finance.headers,
        json={"paid": True, "receipt": "QK12ABC35D", "reason": "on the statement"},
    )
    assert resolved.status_code == 200, resolved.text
    # 5% of 50.00 withheld when credited.
    assert (resolved.json()["amount"], resolved.json()["tax"]) == (50.0, 2.5)
    view = await api.client.get(f"/admin/players/{player.id}", headers=finance.headers)
    assert view.status_code == 200, view.text
    (deposit,) = view.json()["deposits"]
    assert (deposit["amount"], deposit["tax"]) == (50.0, 2.5)
    records = await api.client.get(
        f"/admin/players/{player.id}/records/deposits", headers=finance.headers
    )
    assert records.status_code == 200, records.text
    assert [(d["amount"], d["tax"]) for d in records.json()["items"]] == [(50.0, 2.5)]
    mine = (await api.client.get("/deposits", headers=player.headers)).json()
    assert [d["tax"] for d in mine["items"]] == [2.5]
