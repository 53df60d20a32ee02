"""A phone number belongs to one account, unless an operator allows a second."""

from __future__ import annotations

from typing import Any

import pytest

from gamehub.core.runtime import Runtime
from gamehub.protection.service import Operators
from tests.support.api import ADULT_DOB, PASSWORD, Client, unique_name

pytestmark = pytest.mark.anyio


async def register(client: Client, phone: str) -> Any:
    return await client.post(
        "/register",
        json={"username": unique_name(), "password": PASSWORD, "phone": phone, "dob": ADULT_DOB},
    )


async def test_a_number_another_account_registered_is_refused_in_any_spelling(
    client: Client,
) -> None:
    assert (await register(client, "0712345678")).status_code == 201
    for spelling in ("0712345678", "254712345678", "+254712345678"):
        refused = await register(client, spelling)
        assert refused.status_code == 409
        assert refused.json() == {
            "error": "PhoneInUse",
            "detail": "This phone number belongs to another account",
        }
    assert (await register(client, "0712345679")).status_code == 201


async def test_an_operator_can_let_a_number_be_shared(client: Client, runtime: Runtime) -> None:
    assert (await register(client, "0722000111")).status_code == 201
    assert (await register(client, "0722000111")).status_code == 409
    async with runtime.db.unit_of_work() as session:
        await Operators(session, runtime).allow_shared_phone("254722000111", "ops:amina")
    assert (await register(client, "0722000111")).status_code == 201


async def test_one_account_per_phone_is_a_setting(app_factory: Any) -> None:
    async with app_factory(one_account_per_phone=False) as client:
        assert (await register(client, "0733000222")).status_code == 201
        assert (await register(client, "0733000222")).status_code == 201
