"""GET /healthz, /readyz and /metrics: what an operator's probes and scraper see.

The counters are read from /metrics itself, as a scraper reads them, before and after each
step: the process's registry is shared by every test in it, so only differences count.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families
from reliability.services import Redis as ThrowawayRedis
from sqlalchemy import select, update

from gamehub.core import metrics
from gamehub.core.runtime import Runtime
from gamehub.models import Account, Deposit
from gamehub.models.ledger import AccountKind
from gamehub.payments.tasks import count_waiting
from gamehub.realtime.asgi import StreamHandoff
from gamehub.wallet.tasks import check_ledger
from tests.games.support import player
from tests.support.api import bearer, register
from tests.support.apps import served
from tests.support.sse import AsgiStream


async def sample(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """One sample's value in the scrape, 0 when it has none yet."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    for family in text_string_to_metric_families(response.text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


async def test_healthz_answers_without_asking_anything(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_the_database_and_redis(
    client: httpx.AsyncClient, redis_url: str | None
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    redis = "ok" if redis_url else "not configured"
    assert response.json() == {"status": "ok", "database": "ok", "redis": redis}
    # The seed's /health still answers as it did.
    assert (await client.get("/health")).json()["status"] == "ok"


async def test_readyz_names_redis_when_it_is_down(
    database_url: str, own_redis: ThrowawayRedis
) -> None:
    async with served(database_url, own_redis.url) as running:
        assert (await running.client.get("/readyz")).status_code == 200
        own_redis.stop()
        down = await running.client.get("/readyz", headers={"X-Request-ID": "probe-1"})
        assert down.status_code == 503
        assert down.json() == {
            "error": "NotReady",
            "detail": "Unreachable: redis",
            "down": ["redis"],
        }
        assert down.headers["x-request-id"] == "probe-1"
        # Liveness is not readiness: the process still answers.
        assert (await running.client.get("/healthz")).status_code == 200
        own_redis.start()
        assert (await running.client.get("/readyz")).status_code == 200


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    labels = {"method": "GET", "route": "/user/{name}", "status": "404"}
    before = await sample(client, "gamehub_http_responses_total", **labels)
    timed = await sample(
        client, "gamehub_http_request_duration_seconds_count", method="GET", route="/user/{name}"
    )
    for name in ("nobody-1", "nobody-2"):
        assert (await client.get(f"/user/{name}")).status_code == 404
    assert await sample(client, "gamehub_http_responses_total", **labels) == before + 2
    after = await sample(
        client, "gamehub_http_request_duration_seconds_count", method="GET", route="/user/{name}"
    )
    assert after == timed + 2


async def test_a_spin_is_counted_once_committed_and_a_refused_one_not_at_all(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    game = {"game": "spin-and-win"}
    money = {"game": "spin-and-win", "currency": runtime.settings.currency}
    before = [
        await sample(client, "gamehub_bets_total", **game),
        await sample(client, "gamehub_wagered_minor_total", **money),
        await sample(client, "gamehub_paid_out_minor_total", **money),
    ]
    me = await player(client, runtime, balance_minor=2000)
    played = await client.post(
        "/games/spin-and-win/play", headers=me.headers, json={"bet_amount": 10}
    )
    assert played.status_code == 200, played.text
    win = played.json()["win_amount"]
    poor = await player(client, runtime, balance_minor=0)
    refused = await client.post(
        "/games/spin-and-win/play", headers=poor.headers, json={"bet_amount": 10}
    )
    assert refused.status_code == 409
    after = [
        await sample(client, "gamehub_bets_total", **game),
        await sample(client, "gamehub_wagered_minor_total", **money),
        await sample(client, "gamehub_paid_out_minor_total", **money),
    ]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1000, round(win * 100)]


async def test_each_status_a_payment_reaches_is_counted_once_committed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await register(client)

    async def count(status: str) -> float:
        return await sample(client, "gamehub_payments_total", kind="deposit", status=status)

    pending, completed = await count("pending"), await count("completed")
    async with runtime.db.unit_of_work() as session:
        deposit = Deposit(
            user_id=account["id"],
            amount=1000,
            currency="KES",
            phone="254708374149",
            status="pending",
            query_attempts=0,
        )
        session.add(deposit)
    async with runtime.db.unit_of_work() as session:
        found = await session.get(Deposit, deposit.id)
        assert found is not None
        found.result_desc = "a change that is not a status"

    async def completed_then_rolled_back() -> None:
        async with runtime.db.unit_of_work() as session:
            found = await session.get(Deposit, deposit.id)
            assert found is not None
            found.status = "completed"
            await session.flush()
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await completed_then_rolled_back()
    assert (await count("pending"), await count("completed")) == (pending + 1, completed)
    async with runtime.db.unit_of_work() as session:
        found = await session.get(Deposit, deposit.id)
        assert found is not None
        found.status = "completed"
    assert (await count("pending"), await count("completed")) == (pending + 1, completed + 1)


async def test_waiting_payments_are_gauged_from_the_database(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await register(client)
    async with runtime.db.unit_of_work() as session:
        session.add(
            Deposit(
                user_id=account["id"],
                amount=1000,
                currency="KES",
                phone="254708374149",
                status="needs_review",
                query_attempts=0,
            )
        )
    await count_waiting(runtime)
    assert await sample(client, "gamehub_payments_needs_review", kind="deposit") == 1
    assert await sample(client, "gamehub_payments_needs_review", kind="withdrawal") == 0
    assert await sample(client, "gamehub_payments_unknown", kind="withdrawal") == 0


async def test_open_event_streams_are_gauged(app: Litestar, client: httpx.AsyncClient) -> None:
    account = await register(client)
    before = await sample(client, "gamehub_sse_connections", kind="user")
    headers = bearer(account["access_token"])
    async with AsgiStream(StreamHandoff(app), "/events/connect", headers) as stream:
        assert (await stream.next_event()).event == "connected"
        assert await sample(client, "gamehub_sse_connections", kind="user") == before + 1
    assert await sample(client, "gamehub_sse_connections", kind="user") == before


async def test_the_ledger_check_gauges_drift_and_negative_balances(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await player(client, runtime, balance_minor=300)
    report = await check_ledger(runtime)
    assert report.ok, report.problems
    assert await sample(client, "gamehub_ledger_problems", problem="balance_drift") == 0
    # A balance changed behind the ledger's back, as only a bug or a hand-made UPDATE can.
    async with runtime.db.unit_of_work() as session:
        wallet = (
            await session.execute(
                select(Account.id).where(
                    Account.kind == AccountKind.WALLET.value, Account.user_id == me.id
                )
            )
        ).scalar_one()
        await session.execute(update(Account).where(Account.id == wallet).values(balance=299))
    report = await check_ledger(runtime)
    assert report.counts["balance_drift"] == 1
    assert await sample(client, "gamehub_ledger_problems", problem="balance_drift") == 1
    assert await sample(client, "gamehub_ledger_problems", problem="negative_balance") == 0
    async with runtime.db.unit_of_work() as session:
        await session.execute(update(Account).where(Account.id == wallet).values(balance=300))
    assert (await check_ledger(runtime)).ok
    assert await sample(client, "gamehub_ledger_problems", problem="balance_drift") == 0


async def test_periodic_jobs_count_their_rounds_and_failures(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    rounds = 0
    third = asyncio.Event()

    async def flaky() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            third.set()
        if rounds % 2:
            raise RuntimeError("odd rounds fail")

    runs = await sample(client, "gamehub_job_runs_total", job="test-flaky")
    failures = await sample(client, "gamehub_job_failures_total", job="test-flaky")
    async with runtime.jobs.periodic("test-flaky", 0.01, flaky):
        await asyncio.wait_for(third.wait(), 10)
    assert await sample(client, "gamehub_job_runs_total", job="test-flaky") - runs == rounds
    failed = await sample(client, "gamehub_job_failures_total", job="test-flaky") - failures
    assert failed == (rounds + 1) // 2


def test_every_metric_has_labels_so_that_serve_can_share_them() -> None:
    # gamehub serve switches prometheus-client to its multiprocess files after import; a
    # metric without labels would already hold a value in the process's memory.
    found: list[Any] = [
        m for m in vars(metrics).values() if hasattr(m, "_labelnames") and hasattr(m, "labels")
    ]
    assert found
    assert [m._name for m in found if not m._labelnames] == []
