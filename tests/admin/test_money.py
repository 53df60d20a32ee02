"""Money by hand, through the ledger: balance adjustments with a reason, payments M-Pesa
left open settled from the statement, and the reports finance reads, as JSON and CSV."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from gamehub.models import Deposit, LedgerTransaction
from gamehub.wallet.verify import verify_ledger
from tests.admin.support import audit_rows, decoded, expired_deposit, staff, unknown_withdrawal
from tests.admin.test_players import play
from tests.stats.support import players
from tests.support.apps import Served
from tests.wallet.support import fund


async def balance_of(api: Served, headers: dict[str, str]) -> float:
    value: float = (await api.client.get("/wallet", headers=headers)).json()["balance"]
    return value


async def test_finance_credits_and_debits_a_wallet_through_the_ledger(api: Served) -> None:
    finance = await staff(api, "finance")
    (player,) = await players(api.client, 1)
    path = f"/admin/players/{player.id}/adjust"
    credit = await api.client.post(
        path, headers=finance.headers, json={"amount": 25.5, "reason": "Goodwill, ticket 9"}
    )
    assert credit.status_code == 200, credit.text
    assert credit.json()["new_balance"] == 25.5
    debit = await api.client.post(
        path, headers=finance.headers, json={"amount": -5.5, "reason": "Duplicate credit"}
    )
    assert debit.json()["new_balance"] == 20
    assert await balance_of(api, player.headers) == 20

    async with api.runtime.db.unit_of_work() as session:
        transaction = await session.get(LedgerTransaction, credit.json()["ledger_transaction_id"])
        assert transaction is not None
        assert (transaction.category, transaction.actor, transaction.description) == (
            "adjustment",
            f"user:{finance.username}",
            "Goodwill, ticket 9",
        )
        assert (await verify_ledger(session)).ok
    rows = await audit_rows(api.runtime, player.id)
    assert [(decoded(r.before), decoded(r.after)["balance"], r.reason) for r in rows] == [
        ({"balance": 0}, 25.5, "Goodwill, ticket 9"),
        ({"balance": 25.5}, 20, "Duplicate credit"),
    ]


async def test_an_adjustment_needs_a_reason_and_never_overdraws(api: Served) -> None:
    finance = await staff(api, "finance")
    (player,) = await players(api.client, 1)
    path = f"/admin/players/{player.id}/adjust"
    for body in ({"amount": 5}, {"amount": 5, "reason": " "}, {"amount": 0, "reason": "zero"}):
        response = await api.client.post(path, headers=finance.headers, json=body)
        assert response.status_code == 422, body
    overdraw = await api.client.post(
        path, headers=finance.headers, json={"amount": -1, "reason": "too much"}
    )
    assert overdraw.status_code == 409
    assert overdraw.json()["error"] == "InsufficientFunds"
    assert await audit_rows(api.runtime, player.id) == []


async def test_an_expired_deposit_is_credited_once_with_its_receipt(api: Served) -> None:
    finance = await staff(api, "finance")
    (player,) = await players(api.client, 1)
    deposit_id = await expired_deposit(api.runtime, player.id, 15_000)
    path = f"/admin/payments/deposit/{deposit_id}/resolve"
    no_receipt = await api.client.post(
        path, headers=finance.headers, json={"paid": True, "reason": "on the statement"}
    )
    assert no_receipt.status_code == 422
    assert no_receipt.json()["error"] == "PaymentReceiptRequired"
    body = {"paid": True, "receipt": "QK12ABC34D", "reason": "on the statement"}
    response = await api.client.post(path, headers=finance.headers, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    assert response.json()["mpesa_receipt"] == "QK12ABC34D"
    assert await balance_of(api, player.headers) == 150
    again = await api.client.post(path, headers=finance.headers, json=body)
    assert again.status_code == 409
    assert again.json()["error"] == "NotForReview"
    assert await balance_of(api, player.headers) == 150

    (row,) = await audit_rows(api.runtime, deposit_id, "deposit")
    assert (row.action, row.target_kind) == ("resolve_payment", "deposit")
    assert decoded(row.before) == {"status": "expired"}
    assert decoded(row.after) == {"status": "completed", "paid": True, "receipt": "QK12ABC34D"}
    async with api.runtime.db.unit_of_work() as session:
        deposit = await session.scalar(select(Deposit).where(Deposit.id == deposit_id))
        assert deposit is not None
        assert deposit.ledger_transaction_id is not None


async def test_a_withdrawal_in_unknown_is_refunded_or_marked_paid(api: Served) -> None:
    finance = await staff(api, "finance")
    (player,) = await players(api.client, 1)
    await fund(api.runtime, player.username, 50_000)
    refunded_id = await unknown_withdrawal(api.runtime, player.id, 20_000)
    paid_id = await unknown_withdrawal(api.runtime, player.id, 10_000)
    assert await balance_of(api, player.headers) == 200

    refund = await api.client.post(
        f"/admin/payments/withdrawal/{refunded_id}/resolve",
        headers=finance.headers,
        json={"paid": False, "reason": "not on the statement"},
    )
    assert refund.status_code == 200, refund.text
    assert refund.json()["status"] == "failed"
    assert await balance_of(api, player.headers) == 400
    paid = await api.client.post(
        f"/admin/payments/withdrawal/{paid_id}/resolve",
        headers=finance.headers,
        json={"paid": True, "receipt": "QK99XYZ", "reason": "statement line 4"},
    )
    assert paid.json()["status"] == "completed"
    assert paid.json()["mpesa_receipt"] == "QK99XYZ"
    assert await balance_of(api, player.headers) == 400
    wallet = (await api.client.get("/wallet", headers=player.headers)).json()
    assert wallet["held"] == 0
    async with api.runtime.db.unit_of_work() as session:
        assert (await verify_ledger(session)).ok
    assert [
        decoded(r.before) for r in await audit_rows(api.runtime, refunded_id, "withdrawal")
    ] == [{"status": "unknown"}]


async def test_a_payment_that_does_not_exist_is_404(api: Served) -> None:
    finance = await staff(api, "finance")
    response = await api.client.post(
        "/admin/payments/withdrawal/2147483000/resolve",
        headers=finance.headers,
        json={"paid": False, "reason": "x"},
    )
    assert response.status_code == 404
    bad_kind = await api.client.post(
        "/admin/payments/refund/1/resolve",
        headers=finance.headers,
        json={"paid": False, "reason": "x"},
    )
    assert bad_kind.status_code in (400, 404, 422)


async def test_the_report_sums_each_games_bets_and_the_payments_by_status(api: Served) -> None:
    finance = await staff(api, "finance")
    before = (await api.client.get("/admin/reports", headers=finance.headers)).json()
    (player,) = await players(api.client, 1)
    await fund(api.runtime, player.username, 100_000)
    await play(api, player.headers, 4)
    await expired_deposit(api.runtime, player.id, 5_000)
    response = await api.client.get("/admin/reports", headers=finance.headers)
    assert response.status_code == 200, response.text
    report = response.json()

    def spin(body: dict[str, object]) -> dict[str, float]:
        games = {g["game"]: g for g in body["games"]}  # type: ignore[attr-defined]
        return games.get("spin-and-win", {"bets": 0, "wagered": 0, "paid_out": 0})  # type: ignore[no-any-return]

    now, then = spin(report), spin(before)
    assert now["bets"] - then["bets"] == 4
    assert now["wagered"] - then["wagered"] == 40
    assert now["gross_gaming_revenue"] == now["wagered"] - now["paid_out"]
    assert now["theoretical_rtp"] == 0.96
    assert now["actual_rtp"] == round(now["paid_out"] / now["wagered"], 4)
    expired = {d["status"]: d for d in report["deposits"]}["expired"]
    assert expired["count"] >= 1
    kinds = {row["account_kind"] for row in report["ledger"]}
    assert {"wallet", "house"} <= kinds


async def test_a_period_in_the_future_reports_nothing(api: Served) -> None:
    finance = await staff(api, "finance")
    response = await api.client.get(
        "/admin/reports", headers=finance.headers, params={"since": "2999-01-01"}
    )
    report = response.json()
    assert report["games"] == report["deposits"] == report["ledger"] == []
    assert report["since"].startswith("2999-01-01")
    wrong = await api.client.get(
        "/admin/reports",
        headers=finance.headers,
        params={"since": "2026-11-22", "until": "2026-11-21"},
    )
    assert wrong.status_code == 422


async def test_the_report_as_csv_is_a_sheet_with_a_header_row(api: Served) -> None:
    finance = await staff(api, "finance")
    (player,) = await players(api.client, 1)
    await fund(api.runtime, player.username, 10_000)
    await play(api, player.headers, 2)
    json_report = (await api.client.get("/admin/reports", headers=finance.headers)).json()
    response = await api.client.get(
        "/admin/reports", headers=finance.headers, params={"format": "csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["section", "name", "metric", "value"]
    cells = {(r["section"], r["name"], r["metric"]): r["value"] for r in rows}
    spin = {g["game"]: g for g in json_report["games"]}["spin-and-win"]
    assert float(cells[("games", "spin-and-win", "wagered")]) == spin["wagered"]
    assert int(cells[("games", "spin-and-win", "bets")]) == spin["bets"]
    assert ("needing_review", "withdrawals", "count") in cells
    assert ("ledger", "wallet", "credits") in cells
