"""Deposits are limited per account and per phone number, whoever asks (each one is an
STK prompt on that phone); withdrawals per account. Against the Daraja simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.payments.conftest import SIM_ENV, RunningSimulator
from tests.support.api import bearer, register
from tests.support.server import GENEROUS_RATE_LIMITS
from tests.test_rate_limits import assert_rate_limited

# One phone written three ways: the limit counts the number, not the spelling.
PHONE_SPELLINGS = ["0708374149", "254708374149", "+254708374149"]
OTHER_PHONE = "254711000222"


@asynccontextmanager
async def payments_app(
    app_factory: Any, simulator: RunningSimulator, **rates: str
) -> AsyncIterator[httpx.AsyncClient]:
    credentials = {
        f"mpesa_{name.removeprefix('GAMEHUB_MPESA_SIM_').lower()}": value
        for name, value in SIM_ENV.items()
    }
    async with app_factory(
        mpesa_base_url=simulator.base_url,
        mpesa_certificate_path=str(simulator.certificate_path),
        mpesa_reconcile_interval_seconds=0,
        rate_limits={**GENEROUS_RATE_LIMITS, **rates},
        welcome_bonus_minor=1_000_000,
        **credentials,
    ) as client:
        yield client


async def _player(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer((await register(client))["access_token"])


async def _deposit(client: httpx.AsyncClient, headers: dict[str, str], phone: str) -> int:
    response = await client.post("/deposit", headers=headers, json={"amount": 10, "phone": phone})
    return response.status_code


async def test_a_phone_gets_few_prompts_whoever_asks(
    app_factory: Any, simulator: RunningSimulator
) -> None:
    async with payments_app(app_factory, simulator, deposit_phone="3/10minute") as client:
        strangers = [await _player(client) for _ in range(4)]
        for stranger, phone in zip(strangers, PHONE_SPELLINGS, strict=False):
            assert await _deposit(client, stranger, phone) == 202
        refused = await client.post(
            "/deposit", headers=strangers[3], json={"amount": 10, "phone": "0708374149"}
        )
        assert_rate_limited(refused, "deposit_phone")
        assert refused.json()["retry_after"] > 500
        # The same players may still prompt another phone.
        assert await _deposit(client, strangers[3], OTHER_PHONE) == 202
        assert await _deposit(client, strangers[0], OTHER_PHONE) == 202


async def test_deposits_are_limited_per_account(
    app_factory: Any, simulator: RunningSimulator
) -> None:
    async with payments_app(app_factory, simulator, deposit_user="2/10minute") as client:
        first, second = await _player(client), await _player(client)
        assert await _deposit(client, first, "254711000001") == 202
        assert await _deposit(client, first, "254711000002") == 202
        refused = await client.post(
            "/deposit", headers=first, json={"amount": 10, "phone": "254711000003"}
        )
        assert_rate_limited(refused, "deposit_user")
        assert await _deposit(client, second, "254711000003") == 202


async def test_withdrawals_are_limited_per_account(
    app_factory: Any, simulator: RunningSimulator
) -> None:
    async with payments_app(app_factory, simulator, withdraw_user="2/10minute") as client:
        first, second = await _player(client), await _player(client)

        async def withdraw(headers: dict[str, str]) -> httpx.Response:
            body = {"amount": 10, "phone": OTHER_PHONE}
            return await client.post("/withdraw", headers=headers, json=body)

        assert [(await withdraw(first)).status_code for _ in range(2)] == [202, 202]
        assert_rate_limited(await withdraw(first), "withdraw_user")
        assert (await withdraw(second)).status_code == 202
