"""Player protection: limits and their cooling-off, time-outs, self-exclusion, the reality
check, and the age and KYC gates, through the API a player and an operator use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar

from gamehub.app import create_app
from gamehub.core.clock import ManualClock
from gamehub.core.runtime import Runtime
from gamehub.models.protection import KycStatus
from gamehub.protection.service import Operators, add_months
from tests.conftest import make_settings, serve_in_process
from tests.games.support import assert_ledger_ok, player, put_reward_table
from tests.support.api import Client, bearer, register
from tests.support.sse import AsgiStream
from tests.wallet.support import fund

pytestmark = pytest.mark.anyio

# Every spin pays half its stake back: a spin of 10 loses 5, so loss and wager differ.
HALF_BACK = '[{"multiplier": "0.5", "weight": 1}, {"multiplier": "0.5", "weight": 1}]'
HOUR = 3600
# These tests move the clock by days to years; tokens are issued and expire on that clock,
# so they outlive the longest move (ten years, past a permanent exclusion).
TOKEN_SECONDS = 20 * 366 * 24 * HOUR


@dataclass
class Site:
    app: Litestar
    client: Client
    runtime: Runtime
    clock: ManualClock


@asynccontextmanager
async def site(database_url: str, redis_url: str | None, **overrides: Any) -> AsyncIterator[Site]:
    clock = ManualClock()
    overrides.setdefault("access_token_ttl_seconds", TOKEN_SECONDS)
    app = create_app(make_settings(database_url, redis_url, **overrides), clock=clock)
    async with serve_in_process(app) as client:
        await put_reward_table(app.state.runtime, HALF_BACK)
        yield Site(app, client, app.state.runtime, clock)


async def spin(s: Site, headers: dict[str, str], amount: float) -> Any:
    return await s.client.post(
        "/games/spin-and-win/play", json={"bet_amount": amount}, headers=headers
    )


async def put(s: Site, headers: dict[str, str], **body: Any) -> Any:
    return await s.client.put("/responsible-gaming", json=body, headers=headers)


def limit_of(controls: dict[str, Any], kind: str, period: str) -> dict[str, Any]:
    return next(x for x in controls["limits"] if (x["kind"], x["period"]) == (kind, period))


async def test_a_date_of_birth_is_required_and_a_minor_can_neither_bet_nor_play(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url) as s:
        account = await register(s.client, dob=None)
        await fund(s.runtime, account["username"], 10_000)
        me = bearer(account["access_token"])
        refused = await spin(s, me, 10)
        assert refused.status_code == 403
        assert refused.json()["error"] == "DateOfBirthRequired"
        # The example: a child's date of birth is accepted as data, not as a player.
        assert (
            await s.client.patch("/profile", json={"dob": "2015-06-01"}, headers=me)
        ).status_code == 200
        minor = await spin(s, me, 10)
        assert minor.status_code == 403
        assert minor.json() == {
            "error": "UnderMinimumAge",
            "detail": "Players must be at least 18 years old",
            "minimum_age": 18,
        }
        joined = await s.client.post("/games/join", json={"max_players": 2}, headers=me)
        assert joined.status_code == 403
        assert joined.json()["error"] == "UnderMinimumAge"
        await s.client.patch("/profile", json={"dob": "1990-06-01"}, headers=me)
        assert (await spin(s, me, 10)).status_code == 200


async def test_the_minimum_age_is_a_setting(database_url: str, redis_url: str | None) -> None:
    async with site(database_url, redis_url, minimum_age=21) as s:
        today = s.clock.now().date()
        twenty = today.replace(year=today.year - 20, day=min(today.day, 28))
        account = await register(s.client, dob=twenty.isoformat())
        await fund(s.runtime, account["username"], 10_000)
        refused = await spin(s, bearer(account["access_token"]), 10)
        assert refused.json()["minimum_age"] == 21


async def test_a_wager_limit_refuses_the_stake_past_it_and_says_what_is_left(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url) as s:
        p = await player(s.client, s.runtime)
        controls = (
            await put(s, p.headers, limits=[{"kind": "wager", "period": "day", "amount": 100}])
        ).json()
        assert limit_of(controls, "wager", "day")["amount"] == 100.0
        assert (await spin(s, p.headers, 60)).status_code == 200
        refused = await spin(s, p.headers, 60)
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "LimitReached",
            "detail": "Your daily wager limit of 100.00 leaves 40.00 in this period",
            "limit": "wager",
            "period": "day",
            "amount": 100.0,
            "remaining": 40.0,
        }
        assert (await spin(s, p.headers, 40)).status_code == 200
        used = limit_of(
            (await s.client.get("/responsible-gaming", headers=p.headers)).json(), "wager", "day"
        )
        assert (used["used"], used["remaining"]) == (100.0, 0.0)
        # A rolling day: 24 hours after the stakes (written on the wall clock, a moment
        # after this clock's start), they no longer count.
        s.clock.advance(24 * HOUR + 120)
        assert (await spin(s, p.headers, 100)).status_code == 200
        await assert_ledger_ok(s.runtime)


async def test_a_loss_limit_counts_stakes_less_winnings(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url) as s:
        p = await player(s.client, s.runtime)
        await put(s, p.headers, limits=[{"kind": "loss", "period": "week", "amount": 120}])
        assert (await spin(s, p.headers, 100)).status_code == 200  # loses 50
        refused = await spin(s, p.headers, 100)
        assert refused.status_code == 403
        assert (refused.json()["limit"], refused.json()["period"]) == ("loss", "week")
        assert refused.json()["remaining"] == 70.0
        assert (await spin(s, p.headers, 70)).status_code == 200
        # Still inside the week after six days.
        s.clock.advance(6 * 24 * HOUR)
        assert (await spin(s, p.headers, 50)).json()["error"] == "LimitReached"


async def test_lowering_a_limit_is_at_once_raising_or_removing_it_waits_the_cooling_off(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url) as s:
        p = await player(s.client, s.runtime)
        await put(s, p.headers, limits=[{"kind": "wager", "period": "month", "amount": 200}])
        lowered = await put(
            s, p.headers, limits=[{"kind": "wager", "period": "month", "amount": 50}]
        )
        assert limit_of(lowered.json(), "wager", "month")["amount"] == 50.0
        raised = limit_of(
            (
                await put(
                    s, p.headers, limits=[{"kind": "wager", "period": "month", "amount": 500}]
                )
            ).json(),
            "wager",
            "month",
        )
        assert (raised["amount"], raised["pending"], raised["pending_amount"]) == (
            50.0,
            True,
            500.0,
        )
        assert (await spin(s, p.headers, 60)).status_code == 403
        s.clock.advance(24 * HOUR - 60)
        assert (await spin(s, p.headers, 60)).status_code == 403
        s.clock.advance(60)
        assert (await spin(s, p.headers, 60)).status_code == 200
        now = limit_of(
            (await s.client.get("/responsible-gaming", headers=p.headers)).json(), "wager", "month"
        )
        assert (now["amount"], now["pending"]) == (500.0, False)
        removed = limit_of(
            (
                await put(
                    s, p.headers, limits=[{"kind": "wager", "period": "month", "amount": None}]
                )
            ).json(),
            "wager",
            "month",
        )
        assert (removed["amount"], removed["pending"], removed["pending_amount"]) == (
            500.0,
            True,
            None,
        )
        s.clock.advance(24 * HOUR)
        assert (await spin(s, p.headers, 600)).status_code == 200


async def test_the_cooling_off_period_is_a_setting(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url, protection_cooling_off_hours=72) as s:
        p = await player(s.client, s.runtime)
        await put(s, p.headers, limits=[{"kind": "loss", "period": "day", "amount": 10}])
        raised = await put(s, p.headers, limits=[{"kind": "loss", "period": "day", "amount": 90}])
        pending_from = limit_of(raised.json(), "loss", "day")["pending_from"]
        expected = s.clock.now() + timedelta(hours=72)
        assert datetime.fromisoformat(pending_from) == expected


async def test_a_time_out_refuses_bets_and_joins_names_its_end_and_cannot_be_shortened(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url) as s:
        p = await player(s.client, s.runtime)
        assert (await put(s, p.headers, time_out_hours=23)).status_code == 422
        assert (await put(s, p.headers, time_out_hours=6 * 7 * 24 + 1)).status_code == 422
        taken = (await put(s, p.headers, time_out_hours=48)).json()
        ends = taken["time_out_until"]
        refused = await spin(s, p.headers, 10)
        assert refused.status_code == 403
        assert refused.json()["error"] == "TimedOut"
        assert refused.json()["ends_at"][:16] == ends[:16]
        joined = await s.client.post("/games/join", json={"max_players": 2}, headers=p.headers)
        assert joined.json()["error"] == "TimedOut"
        shorter = await put(s, p.headers, time_out_hours=24)
        assert shorter.status_code == 409
        assert shorter.json()["error"] == "ControlCannotBeShortened"
        s.clock.advance(48 * HOUR + 1)
        assert (await spin(s, p.headers, 10)).status_code == 200


@pytest.mark.parametrize(("length", "months"), [("6_months", 6), ("1_year", 12), ("5_years", 60)])
async def test_a_self_exclusion_lasts_its_length(
    database_url: str, redis_url: str | None, length: str, months: int
) -> None:
    async with site(database_url, redis_url) as s:
        p = await player(s.client, s.runtime)
        start = s.clock.now()
        await put(s, p.headers, self_exclusion=length)
        refused = (await spin(s, p.headers, 10)).json()
        assert refused["error"] == "SelfExcluded"
        assert refused["ends_at"][:10] == add_months(start, months).date().isoformat()
        s.clock.advance((add_months(start, months) - start).total_seconds() - 60)
        assert (await spin(s, p.headers, 10)).status_code == 403
        s.clock.advance(61)
        assert (await spin(s, p.headers, 10)).status_code == 200


async def test_a_permanent_exclusion_ends_only_by_legal_order(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url) as s:
        p = await player(s.client, s.runtime)
        await put(s, p.headers, self_exclusion="permanent")
        refused = (await spin(s, p.headers, 10)).json()
        assert (refused["error"], refused["ends_at"]) == ("SelfExcluded", None)
        for shorter in ("5_years", "6_months"):
            assert (await put(s, p.headers, self_exclusion=shorter)).status_code == 409
        s.clock.advance(10 * 366 * 24 * HOUR)
        assert (await spin(s, p.headers, 10)).status_code == 403
        async with s.runtime.db.unit_of_work() as session:
            operators = Operators(session, s.runtime)
            with pytest.raises(Exception, match="reference is required"):
                await operators.lift_exclusion_by_legal_order(p.id, " ")
            lifted = await operators.lift_exclusion_by_legal_order(p.id, "High Court order 12/2026")
        assert lifted.excluded_permanently
        assert (await spin(s, p.headers, 10)).status_code == 200


async def test_an_exclusion_leaves_open_seats_to_settle_and_refuses_side_bets(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url) as s:
        one, two = await player(s.client, s.runtime), await player(s.client, s.runtime)
        room = (
            await s.client.post("/games/join", json={"max_players": 3}, headers=one.headers)
        ).json()
        await put(s, one.headers, self_exclusion="6_months")
        await put(s, two.headers, time_out_hours=24)
        bet = await s.client.post(
            "/games/place-bet",
            json={
                "roulette_id": room["roulette_id"],
                "player_id": one.id,
                "bet_type": "survival",
                "bet_amount": 10,
            },
            headers=two.headers,
        )
        assert bet.status_code == 403
        assert bet.json()["error"] == "TimedOut"
        # Seated before the exclusion: leaving is still possible and refunds the stake.
        left = await s.client.post(
            "/games/leave", json={"roulette_id": room["roulette_id"]}, headers=one.headers
        )
        assert left.status_code == 200, left.text
        await assert_ledger_ok(s.runtime)


async def test_concurrent_stakes_cannot_pass_a_limit_together(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url) as s:
        p = await player(s.client, s.runtime)
        await put(s, p.headers, limits=[{"kind": "wager", "period": "day", "amount": 100}])
        answers = await asyncio.gather(*(spin(s, p.headers, 50) for _ in range(6)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 200, 403, 403, 403, 403], [a.text for a in answers]
        used = limit_of(
            (await s.client.get("/responsible-gaming", headers=p.headers)).json(), "wager", "day"
        )
        assert used["used"] == 100.0
        await assert_ledger_ok(s.runtime)


async def test_the_reality_check_reports_the_session_after_its_interval(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url) as s:
        p = await player(s.client, s.runtime)
        await put(s, p.headers, reality_check_minutes=30)
        async with AsgiStream(s.app, "/events/connect", p.headers) as stream:
            assert (await stream.next_event()).event == "connected"
            assert (await spin(s, p.headers, 100)).status_code == 200
            s.clock.advance(20 * 60)
            assert (await spin(s, p.headers, 100)).status_code == 200
            s.clock.advance(11 * 60)
            assert (await spin(s, p.headers, 100)).status_code == 200
            seen = []
            while True:
                event = await asyncio.wait_for(stream.next_event(), 10)
                seen.append(event.event)
                if event.event == "reality_check":
                    break
            body = event.json()
            assert body["session_minutes"] == 31
            assert (body["stakes"], body["net_result"]) == (300.0, -150.0)
            assert seen.count("bet_update") == 3


async def test_kyc_and_email_verification_can_be_required_for_play(
    database_url: str, redis_url: str | None
) -> None:
    async with site(database_url, redis_url, kyc_required_for_play=True) as s:
        p = await player(s.client, s.runtime)
        refused = (await spin(s, p.headers, 10)).json()
        assert (refused["error"], refused["kyc_status"]) == ("VerificationRequired", "unverified")
        for status in (KycStatus.PENDING, KycStatus.REJECTED):
            async with s.runtime.db.unit_of_work() as session:
                await Operators(session, s.runtime).set_kyc_status(p.id, status)
            assert (await spin(s, p.headers, 10)).json()["kyc_status"] == status.value
        async with s.runtime.db.unit_of_work() as session:
            await Operators(session, s.runtime).set_kyc_status(p.id, KycStatus.VERIFIED)
        assert (await spin(s, p.headers, 10)).status_code == 200
        summary = (await s.client.get("/responsible-gaming", headers=p.headers)).json()
        assert summary["kyc_status"] == "verified"
    async with site(database_url, redis_url, email_verification_required_for_play=True) as s:
        p = await player(s.client, s.runtime)
        refused = (await spin(s, p.headers, 10)).json()
        assert (refused["error"], refused["kyc_status"]) == ("VerificationRequired", None)
