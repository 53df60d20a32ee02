"""A stateful model of wallets and games under faults: hypothesis plays spins, roulette
joins and leaves while the database drops connections and Redis goes away and comes
back, and checks after every step that no answer was a 500, that a request refused for
an outage moved no money, and that every balance is what the answers said it would be."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from reliability.services import Redis as ThrowawayRedis
from sqlalchemy import event, select

from gamehub.app import create_app
from gamehub.core.runtime import Runtime
from gamehub.models import Account
from gamehub.models.ledger import AccountKind
from gamehub.wallet.verify import verify_ledger
from tests.conftest import make_settings, serve_in_process
from tests.support.api import bearer, register
from tests.wallet.support import fund

T = TypeVar("T")
FUNDS = 2_000_00
SPIN = "/games/spin-and-win/play"


class DatabaseFault:
    """Makes the next statements fail as a dropped connection would (ECONNRESET from the
    socket), anywhere in a request's transaction."""

    def __init__(self, runtime: Runtime) -> None:
        self.failing = 0
        event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", self._maybe_fail)

    def _maybe_fail(self, *_: Any) -> None:
        if self.failing > 0:
            self.failing -= 1
            raise ConnectionResetError(104, "injected: connection reset by peer")


def test_money_survives_database_and_cache_faults(
    database_url: str, own_redis: ThrowawayRedis
) -> None:
    class Platform(RuleBasedStateMachine):
        players = Bundle("players")

        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            application = create_app(make_settings(database_url, own_redis.url))
            # The app lives in one task of its own (its lifespan's task group must be
            # left in the task that entered it); each step runs in tasks beside it.
            self.stopping = asyncio.Event()
            started: asyncio.Future[httpx.AsyncClient] = self.loop.create_future()

            async def host() -> None:
                async with serve_in_process(application) as client:
                    started.set_result(client)
                    await self.stopping.wait()

            self.host = self.loop.create_task(host())
            self.client = self.run(started)
            self.runtime: Runtime = application.state.runtime
            self.fault = DatabaseFault(self.runtime)
            self.balances: dict[str, int] = {}
            self.tokens: dict[str, str] = {}
            self.ids: dict[str, int] = {}
            # player -> (room, stake) while seated in a waiting room
            self.seats: dict[str, tuple[int, int]] = {}
            self.statuses: list[int] = []

        def run(self, work: Awaitable[T]) -> T:
            return self.loop.run_until_complete(work)

        def call(self, method: str, path: str, player: str, **options: Any) -> httpx.Response:
            response = self.run(
                self.client.request(method, path, headers=bearer(self.tokens[player]), **options)
            )
            self.statuses.append(response.status_code)
            assert response.status_code != 500, f"{method} {path}: {response.text}"
            if response.status_code == 503:
                assert "Retry-After" in response.headers, response.headers
            return response

        @initialize(target=players, count=st.integers(min_value=2, max_value=3))
        def open_accounts(self, count: int) -> Any:
            names = []
            for _ in range(count):
                made = self.run(register(self.client))
                name = made["username"]
                self.tokens[name] = made["access_token"]
                self.run(fund(self.runtime, name, FUNDS))
                self.balances[name] = FUNDS
                me = self.run(self.client.get("/me", headers=bearer(made["access_token"])))
                self.ids[name] = int(me.json()["id"])
                names.append(name)
            return multiple(*names)

        @rule(statements=st.integers(min_value=1, max_value=8))
        def break_the_database(self, statements: int) -> None:
            self.fault.failing = statements

        @rule()
        def stop_redis(self) -> None:
            own_redis.stop()

        @rule()
        def start_redis(self) -> None:
            if not own_redis.running:
                own_redis.start()

        @rule(player=players, shillings=st.integers(min_value=10, max_value=200))
        def spin(self, player: str, shillings: int) -> None:
            response = self.call("POST", SPIN, player, json={"bet_amount": shillings})
            if response.status_code == 200:
                body = response.json()
                expected = self.balances[player] - shillings * 100 + round(body["win_amount"] * 100)
                assert round(body["new_balance"] * 100) == expected
                self.balances[player] = expected

        @rule(player=players, shillings=st.sampled_from([10, 20]))
        def join(self, player: str, shillings: int) -> None:
            if player in self.seats:
                return
            # Six seats and at most three players: the room never starts, so every stake
            # can come back.
            response = self.call(
                "POST", "/games/join", player, json={"stake": shillings, "max_players": 6}
            )
            if response.status_code == 200:
                self.balances[player] -= shillings * 100
                self.seats[player] = (int(response.json()["roulette_id"]), shillings * 100)

        @rule(player=players)
        def leave(self, player: str) -> None:
            if player not in self.seats:
                return
            room, stake = self.seats[player]
            response = self.call("POST", "/games/leave", player, json={"roulette_id": room})
            if response.status_code == 200:
                assert round(response.json()["refunded"] * 100) == stake
                self.balances[player] += stake
                del self.seats[player]

        @invariant()
        def money_is_where_the_answers_said(self) -> None:
            if not self.tokens:
                return
            failing, self.fault.failing = self.fault.failing, 0
            try:
                self.run(self._check())
            finally:
                self.fault.failing = failing

        async def _check(self) -> None:
            async with self.runtime.db.unit_of_work() as session:
                report = await verify_ledger(session)
                assert report.ok, report.problems
                rows = await session.execute(
                    select(Account.user_id, Account.balance).where(
                        Account.kind == AccountKind.WALLET.value
                    )
                )
                actual = {user_id: balance for user_id, balance in rows}
            for name, balance in self.balances.items():
                assert actual[self.ids[name]] == balance, name

        def teardown(self) -> None:
            self.fault.failing = 0
            self.stopping.set()
            try:
                self.run(self.host)
            finally:
                self.loop.close()
                if not own_redis.running:
                    own_redis.start()

    run_state_machine_as_test(
        Platform,
        settings=settings(
            max_examples=8,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # Each step is real I/O: shrinking a failure would outlast the test's time
            # limit, so the first failing program is reported as found.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )
