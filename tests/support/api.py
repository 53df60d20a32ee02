"""Small helpers that keep the tests about behaviour rather than request plumbing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

PASSWORD = "Tr1cky-Marmot-42"
# An adult's date of birth: deposits and bets need one (GAMEHUB_DOB_REQUIRED).
ADULT_DOB = "1990-01-01"

Client = httpx.AsyncClient


def unique_name(prefix: str = "player") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: Client, username: str | None = None, password: str = PASSWORD, **extra: Any
) -> dict[str, Any]:
    body = {"username": username or unique_name(), "password": password, "dob": ADULT_DOB, **extra}
    if body["dob"] is None:
        del body["dob"]
    response = await client.post("/register", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def login(client: Client, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
