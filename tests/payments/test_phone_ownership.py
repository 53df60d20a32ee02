"""Phone ownership: withdrawals go only to a number that completed a deposit into the
account (M-Pesa's own approval proves it) or that an operator verified."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gamehub.core.clock import SystemClock
from gamehub.models.protection import PhoneProof
from gamehub.protection.errors import PhoneNotProven
from gamehub.protection.phones import Phones
from gamehub.settings import Settings
from tests.payments.conftest import PaymentsApi
from tests.payments.support import (
    PHONE,
    Player,
    assert_ledger_ok,
    database,
    fund,
    new_player,
    unique_phone,
    wait_for_status,
)
from tests.support.api import ADULT_DOB, PASSWORD, unique_name

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(payments_api: PaymentsApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=payments_api.base_url, timeout=60) as client:
        yield client


async def withdraw(http: httpx.AsyncClient, who: Player, phone: str) -> httpx.Response:
    return await http.post("/withdraw", headers=who.headers, json={"amount": 100, "phone": phone})


async def test_a_withdrawal_to_a_number_the_account_never_paid_from_is_refused(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    # The case: registered with one number, paying another.
    registered_with, other = unique_phone(), unique_phone()
    name = unique_name()
    account = (
        await http.post(
            "/register",
            json={
                "username": name,
                "password": PASSWORD,
                "phone": registered_with,
                "dob": ADULT_DOB,
            },
        )
    ).json()
    me = Player(name, account["id"], {"Authorization": f"Bearer {account['access_token']}"})
    await fund(payments_api.database_url, name, 100_000)
    for phone in (registered_with, other):
        refused = await withdraw(http, me, phone)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "PhoneNotProven"
        assert refused.json()["phone"] == "254" + phone[1:]
    # Nothing was held.
    assert (await http.get("/wallet", headers=me.headers)).json()["held"] == 0


async def test_a_completed_deposit_proves_its_number_for_withdrawals(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    me = await new_player(http)
    phone = unique_phone()
    started = await http.post("/deposit", headers=me.headers, json={"amount": 500, "phone": phone})
    assert started.status_code == 202, started.text
    await wait_for_status(http, f"/deposits/{started.json()['deposit_id']}", me, {"completed"})
    # The same number in another spelling is the same number.
    paid = await withdraw(http, me, "254" + phone[1:])
    assert paid.status_code == 202, paid.text
    await assert_ledger_ok(payments_api.database_url)


async def test_a_number_an_operator_verified_takes_withdrawals(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    me = await new_player(http)
    await fund(payments_api.database_url, me.username, 100_000)  # verifies PHONE
    assert (await withdraw(http, me, PHONE)).status_code == 202


async def test_a_failed_deposit_proves_nothing(
    http: httpx.AsyncClient, payments_api: PaymentsApi
) -> None:
    me = await new_player(http)
    phone = unique_phone()
    # The simulator's customer lacks the funds for an amount ending in 11
    # (docs/mpesa-simulator.md).
    started = await http.post("/deposit", headers=me.headers, json={"amount": 111, "phone": phone})
    assert started.status_code == 202, started.text
    await wait_for_status(http, f"/deposits/{started.json()['deposit_id']}", me, {"failed"})
    async with database(payments_api.database_url) as db, db.unit_of_work() as session:
        with pytest.raises(PhoneNotProven):
            await Phones(
                session, Settings(database_url=payments_api.database_url), SystemClock()
            ).check_withdrawal(me.user_id, phone)
        # Off by setting, any number will do.
        relaxed = Settings(
            database_url=payments_api.database_url, withdraw_to_proven_phones_only=False
        )
        await Phones(session, relaxed, SystemClock()).check_withdrawal(me.user_id, phone)
        await Phones(session, relaxed, SystemClock()).prove(me.user_id, phone, PhoneProof.OPERATOR)
