"""The approval queue: above GAMEHUB_WITHDRAWAL_APPROVAL_ABOVE_MINOR a withdrawal is held
and waits for a finance operator. M-Pesa hears of it only once approved, through the same
crash-safe B2C path as any payout; a rejection refunds it; each decision is audited and
acts once, however many operators click at the same moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gamehub.admin.service import grant_role
from gamehub.models import AuditLog, Withdrawal
from gamehub.payments.service.withdrawals import reconcile_withdrawals
from tests.payments.conftest import PaymentsApi, RunningSimulator, serve_payments_api
from tests.payments.support import (
    PHONE,
    Player,
    assert_ledger_ok,
    database,
    dying_worker,
    fund,
    new_player,
    provider_runtime,
    row,
    settings_of,
    sim_requests,
    wait_for_status,
)
from tests.support.sse import WAIT_SECONDS, SseEvent, http_events

B2C = "/mpesa/b2c/v3/paymentrequest"
# KES 150: a withdrawal of more waits for approval. The simulator picks its answer by the
# amount's last two digits (gamehub.payments.mpesa.simulator.scenarios): x00 pays out,
# x91 is paid but M-Pesa never sends the Result, x11 is refused for insufficient funds.
APPROVAL_ABOVE_MINOR = 15_000
PAID = 500
PAID_SILENTLY = 291
REFUSED = 311


@pytest.fixture(scope="module")
def payments_api(
    simulator: RunningSimulator, database_url: str, redis_url: str | None
) -> Iterator[PaymentsApi]:
    with serve_payments_api(
        simulator,
        database_url,
        redis_url,
        GAMEHUB_WITHDRAWAL_APPROVAL_ABOVE_MINOR=str(APPROVAL_ABOVE_MINOR),
    ) as api:
        yield api


@pytest.fixture
async def http(payments_api: PaymentsApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=payments_api.base_url, timeout=60) as client:
        yield client


async def operator(http: httpx.AsyncClient, api: PaymentsApi, *roles: str) -> Player:
    made = await new_player(http)
    async with provider_runtime(api) as runtime:
        for role in roles:
            await grant_role(runtime, made.username, role, "tests")
    return made


async def funded(http: httpx.AsyncClient, api: PaymentsApi) -> Player:
    player = await new_player(http)
    await fund(api.database_url, player.username, 1_000_000)
    return player


async def withdraw(http: httpx.AsyncClient, player: Player, amount: int) -> dict[str, Any]:
    response = await http.post(
        "/withdraw", headers=player.headers, json={"amount": amount, "phone": PHONE}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def queued(http: httpx.AsyncClient, api: PaymentsApi, amount: int = PAID) -> Any:
    """A funded player and their withdrawal awaiting approval."""
    player = await funded(http, api)
    started = await withdraw(http, player, amount)
    assert started["status"] == "awaiting_approval"
    return player, started["withdrawal_id"]


async def wallet(http: httpx.AsyncClient, player: Player) -> dict[str, Any]:
    body: dict[str, Any] = (await http.get("/wallet", headers=player.headers)).json()
    return body


async def decide(
    http: httpx.AsyncClient, who: Player, withdrawal_id: int, verdict: str, reason: str = "r"
) -> httpx.Response:
    path = f"/admin/withdrawals/{withdrawal_id}/{verdict}"
    body = {"reason": reason} if verdict == "reject" else None
    return await http.post(path, headers=who.headers, json=body)


async def audit_of(api: PaymentsApi, withdrawal_id: int) -> list[AuditLog]:
    async with database(api.database_url) as db, db.unit_of_work() as session:
        rows = await session.scalars(
            select(AuditLog)
            .where(AuditLog.target_kind == "withdrawal", AuditLog.target_id == str(withdrawal_id))
            .order_by(AuditLog.id)
        )
        return list(rows)


async def b2c_requests(
    http: httpx.AsyncClient, simulator: RunningSimulator, api: PaymentsApi, withdrawal_id: int
) -> list[dict[str, Any]]:
    withdrawal = await row(api.database_url, Withdrawal, withdrawal_id)
    originator = withdrawal.originator_conversation_id
    return await sim_requests(http, simulator, B2C, OriginatorConversationID=originator)


async def test_a_withdrawal_up_to_the_threshold_is_sent_at_once(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    player = await funded(http, payments_api)
    started = await withdraw(http, player, APPROVAL_ABOVE_MINOR // 100)
    assert started["status"] == "submitted"
    done = await wait_for_status(
        http, f"/withdrawals/{started['withdrawal_id']}", player, {"completed"}
    )
    assert done["mpesa_receipt"]


async def test_above_the_threshold_the_funds_are_held_and_mpesa_hears_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    player = await funded(http, payments_api)
    started = await withdraw(http, player, PAID)
    assert (started["status"], started["new_balance"]) == ("awaiting_approval", 9_500)
    assert await wallet(http, player) == {"balance": 9_500, "currency": "KES", "held": 500}
    withdrawal_id = started["withdrawal_id"]
    one = (await http.get(f"/withdrawals/{withdrawal_id}", headers=player.headers)).json()
    assert (one["status"], one["settled_at"]) == ("awaiting_approval", None)
    listed = await http.get(
        "/withdrawals", headers=player.headers, params={"status": "awaiting_approval"}
    )
    assert [w["withdrawal_id"] for w in listed.json()["items"]] == [withdrawal_id]
    # The reconciler asks M-Pesa about payouts it was sent, never about this one.
    async with provider_runtime(payments_api) as runtime:
        await reconcile_withdrawals(runtime, now=datetime.now(UTC) + timedelta(hours=1))
    assert await b2c_requests(http, simulator, payments_api, withdrawal_id) == []
    assert (await row(payments_api.database_url, Withdrawal, withdrawal_id)).status == (
        "awaiting_approval"
    )
    await assert_ledger_ok(payments_api.database_url)


async def test_finance_approves_and_the_payout_completes_through_mpesa(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    finance = await operator(http, payments_api, "finance")
    player, withdrawal_id = await queued(http, payments_api)
    approved = await decide(http, finance, withdrawal_id, "approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "submitted"
    done = await wait_for_status(http, f"/withdrawals/{withdrawal_id}", player, {"completed"})
    assert done["mpesa_receipt"]
    assert await wallet(http, player) == {"balance": 9_500, "currency": "KES", "held": 0}
    assert len(await b2c_requests(http, simulator, payments_api, withdrawal_id)) == 1

    (audited,) = await audit_of(payments_api, withdrawal_id)
    assert (audited.action, audited.actor, audited.actor_id) == (
        "approve_withdrawal",
        f"user:{finance.username}",
        finance.user_id,
    )
    assert audited.client_ip == "127.0.0.1"
    assert audited.before == '{"status": "awaiting_approval"}'
    assert '"status": "pending"' in (audited.after or "")
    await assert_ledger_ok(payments_api.database_url)


async def test_mpesa_refusing_an_approved_payout_refunds_it(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    admin = await operator(http, payments_api, "admin")
    player, withdrawal_id = await queued(http, payments_api, REFUSED)
    approved = await decide(http, admin, withdrawal_id, "approve")
    assert approved.status_code == 200, approved.text
    await wait_for_status(http, f"/withdrawals/{withdrawal_id}", player, {"failed"})
    assert await wallet(http, player) == {"balance": 10_000, "currency": "KES", "held": 0}
    await assert_ledger_ok(payments_api.database_url)


async def test_a_rejection_refunds_through_the_ledger_and_says_why(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    finance = await operator(http, payments_api, "finance")
    player, withdrawal_id = await queued(http, payments_api)
    for body in (None, {}, {"reason": ""}, {"reason": "   "}, {"reason": 5}):
        refused = await http.post(
            f"/admin/withdrawals/{withdrawal_id}/reject", headers=finance.headers, json=body
        )
        assert refused.status_code in (400, 422), (body, refused.text)
    rejected = await decide(http, finance, withdrawal_id, "reject", "Source of funds unclear")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "failed"
    seen = (await http.get(f"/withdrawals/{withdrawal_id}", headers=player.headers)).json()
    assert (seen["status"], seen["result_code"]) == ("failed", "rejected")
    assert seen["result_desc"] == f"rejected by user:{finance.username}: Source of funds unclear"
    assert await wallet(http, player) == {"balance": 10_000, "currency": "KES", "held": 0}
    assert await b2c_requests(http, simulator, payments_api, withdrawal_id) == []

    (audited,) = await audit_of(payments_api, withdrawal_id)
    assert (audited.action, audited.reason) == ("reject_withdrawal", "Source of funds unclear")
    assert '"status": "failed"' in (audited.after or "")
    await assert_ledger_ok(payments_api.database_url)


async def test_a_decided_withdrawal_cannot_be_decided_again(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    finance = await operator(http, payments_api, "finance")
    _, approved_id = await queued(http, payments_api)
    _, rejected_id = await queued(http, payments_api)
    assert (await decide(http, finance, approved_id, "approve")).status_code == 200
    assert (await decide(http, finance, rejected_id, "reject")).status_code == 200
    for withdrawal_id in (approved_id, rejected_id):
        for verdict in ("approve", "reject"):
            again = await decide(http, finance, withdrawal_id, verdict)
            assert again.status_code == 409, again.text
            assert again.json()["error"] == "NotAwaitingApproval"
    # One under the threshold never awaited approval.
    player = await funded(http, payments_api)
    small = await withdraw(http, player, 100)
    assert (await decide(http, finance, small["withdrawal_id"], "approve")).status_code == 409
    unknown = await decide(http, finance, 2_000_000_000, "approve")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "PaymentNotFound")
    assert len(await b2c_requests(http, simulator, payments_api, approved_id)) == 1
    assert len(await audit_of(payments_api, approved_id)) == 1
    assert len(await audit_of(payments_api, rejected_id)) == 1


@pytest.mark.parametrize(
    "verdicts",
    [("approve", "approve", "approve"), ("approve", "reject", "approve", "reject")],
)
async def test_decisions_at_the_same_moment_act_once(
    http: httpx.AsyncClient,
    payments_api: PaymentsApi,
    simulator: RunningSimulator,
    verdicts: tuple[str, ...],
) -> None:
    deciders = [
        await operator(http, payments_api, "finance" if index % 2 else "admin")
        for index in range(len(verdicts))
    ]
    player, withdrawal_id = await queued(http, payments_api)
    answers = await asyncio.gather(
        *(
            decide(http, who, withdrawal_id, verdict)
            for who, verdict in zip(deciders, verdicts, strict=True)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * (len(verdicts) - 1), [a.text for a in answers]
    (won,) = [verdict for verdict, a in zip(verdicts, answers, strict=True) if a.is_success]
    (audited,) = await audit_of(payments_api, withdrawal_id)
    assert audited.action == f"{won}_withdrawal"
    sent = await b2c_requests(http, simulator, payments_api, withdrawal_id)
    if won == "approve":
        await wait_for_status(http, f"/withdrawals/{withdrawal_id}", player, {"completed"})
        assert len(sent) == 1
        assert (await wallet(http, player))["balance"] == 9_500
    else:
        assert sent == []
        assert (await wallet(http, player))["balance"] == 10_000
    assert (await wallet(http, player))["held"] == 0
    await assert_ledger_ok(payments_api.database_url)


async def test_the_queue_is_for_finance_and_admins_only(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    support = await operator(http, payments_api, "support")
    _, withdrawal_id = await queued(http, payments_api)
    player = await new_player(http)
    for who in (support, player):
        for verdict in ("approve", "reject"):
            refused = await decide(http, who, withdrawal_id, verdict)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"] == "StaffOnly"
        listed = await http.get("/admin/withdrawals/awaiting-approval", headers=who.headers)
        assert listed.status_code == 403
    anonymous = await http.post(f"/admin/withdrawals/{withdrawal_id}/approve")
    assert anonymous.status_code == 401
    assert (await row(payments_api.database_url, Withdrawal, withdrawal_id)).status == (
        "awaiting_approval"
    )
    assert await audit_of(payments_api, withdrawal_id) == []


async def test_the_queue_pages_oldest_first(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    finance = await operator(http, payments_api, "finance")
    mine = [(await queued(http, payments_api))[1] for _ in range(3)]
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await http.get(
            "/admin/withdrawals/awaiting-approval", headers=finance.headers, params=params
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen += body["items"]
        cursor = page.headers.get("X-Next-Cursor")
        assert cursor == body["next_cursor"]
        if cursor is None:
            break
    ids = [item["id"] for item in seen]
    assert ids == sorted(ids)
    ours = [item for item in seen if item["id"] in mine]
    assert [item["id"] for item in ours] == mine
    assert {(item["amount"], item["currency"]) for item in ours} == {(PAID, "KES")}
    assert all(item["username"] for item in ours)
    bad = await http.get(
        "/admin/withdrawals/awaiting-approval", headers=finance.headers, params={"limit": 0}
    )
    assert bad.status_code == 422


async def test_the_player_hears_each_step_on_their_event_stream(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    finance = await operator(http, payments_api, "finance")
    player = await funded(http, payments_api)
    heard: asyncio.Queue[SseEvent] = asyncio.Queue()

    async def listen() -> None:
        async with http.stream("GET", "/events/connect", headers=player.headers) as response:
            async for event in http_events(response):
                heard.put_nowait(event)

    async def next_update() -> dict[str, Any]:
        while True:
            event = await asyncio.wait_for(heard.get(), WAIT_SECONDS)
            if event.event == "withdrawal_update":
                data: dict[str, Any] = event.json()
                return data

    listener = asyncio.create_task(listen())
    try:
        while (await asyncio.wait_for(heard.get(), WAIT_SECONDS)).event != "connected":
            pass
        withdrawal_id = (await withdraw(http, player, PAID))["withdrawal_id"]
        assert (await next_update())["status"] == "awaiting_approval"
        rejected = await decide(http, finance, withdrawal_id, "reject", "not today")
        assert rejected.status_code == 200
        told = await next_update()
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    assert (told["withdrawal_id"], told["status"], told["result_code"]) == (
        withdrawal_id,
        "failed",
        "rejected",
    )


async def test_a_worker_killed_after_mpesa_accepted_an_approved_payout_pays_once(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    finance = await operator(http, payments_api, "finance")
    # M-Pesa pays but never sends its Result: only the reconciler can find the payout.
    player, withdrawal_id = await queued(http, payments_api, PAID_SILENTLY)
    async with dying_worker(payments_api, simulator, dies_after=B2C) as worker:
        died = await worker.client.post(
            f"/admin/withdrawals/{withdrawal_id}/approve", headers=finance.headers
        )
    assert died.status_code == 500
    # The approval and its audit row were committed before M-Pesa heard of the payout.
    assert (await row(payments_api.database_url, Withdrawal, withdrawal_id)).status == "pending"
    assert [a.action for a in await audit_of(payments_api, withdrawal_id)] == ["approve_withdrawal"]
    again = await decide(http, finance, withdrawal_id, "approve")
    assert again.status_code == 409

    async with provider_runtime(payments_api) as runtime:
        assert await reconcile_withdrawals(runtime) >= 1
    await wait_for_status(http, f"/withdrawals/{withdrawal_id}", player, {"completed"})
    assert len(await b2c_requests(http, simulator, payments_api, withdrawal_id)) == 1
    assert await wallet(http, player) == {
        "balance": 10_000 - PAID_SILENTLY,
        "currency": "KES",
        "held": 0,
    }
    await assert_ledger_ok(payments_api.database_url)


async def test_a_worker_killed_before_the_b2c_request_leaves_the_payout_to_review(
    http: httpx.AsyncClient, payments_api: PaymentsApi, simulator: RunningSimulator
) -> None:
    finance = await operator(http, payments_api, "finance")
    player, withdrawal_id = await queued(http, payments_api)
    async with dying_worker(payments_api, simulator, dies_before=B2C) as worker:
        died = await worker.client.post(
            f"/admin/withdrawals/{withdrawal_id}/approve", headers=finance.headers
        )
    assert died.status_code == 500
    # As for a payout under the threshold: M-Pesa has no such payment, and after a few such
    # answers a person decides; nothing is refunded, or sent, by itself.
    now = datetime.now(UTC)
    attempts = settings_of(payments_api).mpesa_status_not_found_attempts
    async with provider_runtime(payments_api) as runtime:
        for _ in range(attempts):
            now += timedelta(hours=1)
            assert await reconcile_withdrawals(runtime, now=now) >= 1
            await simulator.flush(http)
    await wait_for_status(http, f"/withdrawals/{withdrawal_id}", player, {"needs_review"})
    assert await wallet(http, player) == {"balance": 9_500, "currency": "KES", "held": 500}
    assert await b2c_requests(http, simulator, payments_api, withdrawal_id) == []
    await assert_ledger_ok(payments_api.database_url)
